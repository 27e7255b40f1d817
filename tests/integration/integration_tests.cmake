# Integration tests: the plugin binary driven over gRPC exactly as Nomad does.
add_executable(test_plugin_lifecycle ${CMAKE_CURRENT_LIST_DIR}/test_plugin_lifecycle.c
  ${CMAKE_CURRENT_LIST_DIR}/task_helpers.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c)
target_link_libraries(test_plugin_lifecycle PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
  elide_warnings)
target_compile_definitions(test_plugin_lifecycle PRIVATE
  PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>"
  MODULE_DIR="${ELIDE_BUILD_MODULEDIR}"
  EXAMPLE_DRIVER_INI="${CMAKE_SOURCE_DIR}/examples/driver.ini")
add_dependencies(test_plugin_lifecycle nomad-driver-elide elide_python elide-monitor)
add_test(NAME integration.plugin_lifecycle COMMAND test_plugin_lifecycle)
set_tests_properties(integration.plugin_lifecycle PROPERTIES TIMEOUT 120 LABELS integration)

# The same life under valgrind: the plugin's long-lived paths (server,
# streams, task table, recovery, shutdown) must not leak or touch bad memory.
option(ELIDE_VALGRIND "Run the plugin integration tests under valgrind too" ON)
find_program(VALGRIND valgrind)
set(ELIDE_VALGRIND_SUPP ${CMAKE_CURRENT_LIST_DIR}/valgrind.supp)
# Registers <name>_valgrind: the command (ARGN) with the plugin it starts
# wrapped in valgrind (ELIDE_PLUGIN_WRAPPER); a definite leak or a memory
# error makes the plugin exit 99 and the test fail.
function(elide_valgrind_test name timeout)
  if(ELIDE_VALGRIND AND VALGRIND)
    add_test(NAME ${name}_valgrind COMMAND ${ARGN})
    set_tests_properties(${name}_valgrind PROPERTIES TIMEOUT ${timeout}
      LABELS "integration;valgrind"
      ENVIRONMENT "ELIDE_PLUGIN_WRAPPER=${VALGRIND} --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --suppressions=${ELIDE_VALGRIND_SUPP}")
  endif()
endfunction()
elide_valgrind_test(integration.plugin_lifecycle 600 test_plugin_lifecycle)

# The installed layout: `cmake --install` into a fresh prefix, then the same
# life against the installed binary, which must find its installed monitor
# and modules with no configuration.
add_test(NAME integration.installed_layout
  COMMAND ${CMAKE_COMMAND}
    -DBUILD_DIR=${CMAKE_BINARY_DIR}
    -DPREFIX=${CMAKE_BINARY_DIR}/test-install
    -DTEST_BINARY=$<TARGET_FILE:test_plugin_lifecycle>
    -P ${CMAKE_CURRENT_LIST_DIR}/installed_layout.cmake)
set_tests_properties(integration.installed_layout PROPERTIES TIMEOUT 180 LABELS integration)

# Daemon mode: the plugin with backends in `mode = daemon` against a real
# elide-execd (execd_tests.cmake's harness).
add_executable(test_plugin_daemon
  ${CMAKE_CURRENT_LIST_DIR}/test_plugin_daemon.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c)
target_link_libraries(test_plugin_daemon PRIVATE execd_harness elide_rpc elide_proto
  PkgConfig::MSGPACK elide_warnings)
target_compile_definitions(test_plugin_daemon PRIVATE
  PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>"
  MODULE_DIR="${ELIDE_BUILD_MODULEDIR}"
  MODULE_DIR_FOR_TESTS="${ELIDE_BUILD_MODULEDIR}")
add_dependencies(test_plugin_daemon nomad-driver-elide elide-execd elide_python elide-monitor
  elide-relay)
add_test(NAME integration.plugin_daemon COMMAND test_plugin_daemon)
set_tests_properties(integration.plugin_daemon PROPERTIES TIMEOUT 180 LABELS integration)

# Survival across plugin restarts (records, monitors gone without one, PID
# reuse, recovery events) and users and safety (allow_root, nothing of the
# plugin reaching a task, vanished clients and log readers).
foreach(name plugin_recovery plugin_safety)
  add_executable(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c
    ${CMAKE_CURRENT_LIST_DIR}/task_helpers.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c)
  target_link_libraries(test_${name} PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
    elide_warnings)
  target_compile_definitions(test_${name} PRIVATE
    PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>")
  add_dependencies(test_${name} nomad-driver-elide elide_python elide-monitor)
  add_test(NAME integration.${name} COMMAND test_${name})
  set_tests_properties(integration.${name} PROPERTIES TIMEOUT 180 LABELS integration)
endforeach()

# Exec into running tasks (ExecTask, ExecTaskStreaming with and without a
# TTY, the language REPL) over gRPC from a Python grpcio client whose stubs
# are generated from proto/nomad at test time; the 1.0 ABI fixture module
# (tests/abi) stands for a backend without a REPL. Every check runs for
# local tasks and again for tasks in a real elide-execd (daemon mode, exec
# proxied onto ExecInExecution, daemon restarts included).
find_program(GRPC_PYTHON_PLUGIN grpc_python_plugin)
find_program(PROTOC protoc)
if(GRPC_PYTHON_PLUGIN AND PROTOC)
  set(plugin_exec_command /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_plugin_exec.py
      --plugin $<TARGET_FILE:nomad-driver-elide> --module-dir ${ELIDE_BUILD_MODULEDIR}
      --fixture-module ${ABI_FIXTURE_DIR}/minor0.so --daemon $<TARGET_FILE:elide-execd>
      --proto-dir ${CMAKE_SOURCE_DIR}/proto --protoc ${PROTOC} --grpc-plugin ${GRPC_PYTHON_PLUGIN})
  add_test(NAME integration.plugin_exec COMMAND ${plugin_exec_command})
  set_tests_properties(integration.plugin_exec PROPERTIES TIMEOUT 420 LABELS integration)
  # The same under valgrind: sessions, pumps and the fork path of the plugin.
  elide_valgrind_test(integration.plugin_exec 900 ${plugin_exec_command})
  # Warm starts: warm and cold runs of the same tasks compared, the pool's
  # refills after use and after its processes die.
  add_test(NAME integration.plugin_warm COMMAND /usr/bin/python3
           ${CMAKE_CURRENT_LIST_DIR}/test_plugin_warm.py --plugin $<TARGET_FILE:nomad-driver-elide>
           --module-dir ${ELIDE_BUILD_MODULEDIR} --proto-dir ${CMAKE_SOURCE_DIR}/proto
           --protoc ${PROTOC} --grpc-plugin ${GRPC_PYTHON_PLUGIN})
  set_tests_properties(integration.plugin_warm PROPERTIES TIMEOUT 300 LABELS integration)
else()
  message(WARNING "protoc or grpc_python_plugin missing (tests/install-deps.sh installs "
                  "protobuf-compiler-grpc): integration.plugin_exec is skipped")
endif()

# Limits through the plugin: real cgroups made as Nomad's client makes them
# (tests/unit/cgroup_fixture.c, a parent unique to the test), memory and CPU
# limits, only the task in its groups, cgroup stats, an OOM kill, the
# `timeout` option and its events, recovery of both. Needs root and cgroups.
add_executable(test_plugin_limits ${CMAKE_CURRENT_LIST_DIR}/test_plugin_limits.c
  ${CMAKE_CURRENT_LIST_DIR}/task_helpers.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c
  ${CMAKE_CURRENT_LIST_DIR}/../unit/cgroup_fixture.c)
target_link_libraries(test_plugin_limits PRIVATE elide_exec elide_rpc elide_proto
  PkgConfig::MSGPACK elide_warnings)
target_compile_definitions(test_plugin_limits PRIVATE
  PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>")
add_dependencies(test_plugin_limits nomad-driver-elide elide_python elide-monitor)
add_test(NAME integration.plugin_limits COMMAND test_plugin_limits)
set_tests_properties(integration.plugin_limits PROPERTIES TIMEOUT 180 LABELS integration)
# Under valgrind too: the stats thread's cgroup reads, the exit events and
# DestroyTask's removal of the driver's own groups are long-lived paths.
elide_valgrind_test(integration.plugin_limits 600 test_plugin_limits)

# A plugin whose agent is gone (killed, or exited after re-launching it
# during its own shutdown) exits by itself instead of lingering.
add_test(NAME integration.plugin_orphan
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_plugin_orphan.py
    $<TARGET_FILE:nomad-driver-elide>)
set_tests_properties(integration.plugin_orphan PROPERTIES TIMEOUT 60 LABELS integration)
