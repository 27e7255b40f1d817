# Integration tests of elide-execd: the daemon binary started with its own
# INI, work_root and unix socket, driven over gRPC by C clients and by an
# independent Python grpcio client generated from the proto at test time.
add_library(execd_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/execd_harness.c)
target_link_libraries(execd_harness PUBLIC elide_rpc elide_proto PRIVATE elide_warnings)
target_include_directories(execd_harness PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(execd_harness PRIVATE
  EXECD_BINARY="$<TARGET_FILE:elide-execd>"
  MODULE_DIR="${ELIDE_BUILD_MODULEDIR}")

foreach(t test_execd_api test_execd_errors test_execd_restart)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE execd_harness elide_warnings)
  target_compile_definitions(${t} PRIVATE
    MODULE_DIR_FOR_TESTS="${ELIDE_BUILD_MODULEDIR}"
    EXAMPLE_EXECD_INI="${CMAKE_SOURCE_DIR}/examples/execd.ini"
    EXAMPLE_SERVICE="${CMAKE_SOURCE_DIR}/examples/elide-execd.service")
  add_dependencies(${t} elide-execd elide-monitor elide_python js)
  string(REPLACE "test_execd_" "integration.execd_" name ${t})
  add_test(NAME ${name} COMMAND ${t})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS "integration;execd")
endforeach()

# Resource limits in the daemon's own cgroups (root and cgroups needed).
add_executable(test_execd_limits ${CMAKE_CURRENT_LIST_DIR}/test_execd_limits.c
  ${CMAKE_CURRENT_LIST_DIR}/../unit/cgroup_fixture.c)
target_link_libraries(test_execd_limits PRIVATE execd_harness elide_exec elide_warnings)
add_dependencies(test_execd_limits elide-execd elide-monitor elide_python)
add_test(NAME integration.execd_limits COMMAND test_execd_limits)
set_tests_properties(integration.execd_limits PROPERTIES TIMEOUT 300 LABELS "integration;execd")

# The Python grpcio clients (Debian's python3-grpcio under /usr/bin/python3),
# with stubs generated from the proto by protoc + grpc_python_plugin:
# execd_python_client.py (the API at large) and test_execd_exec.py
# (ExecInExecution: context, pipes and pty, REPL, refusals, cancel, bounded
# memory, a daemon restart; root and cgroups) and test_execd_unprivileged.py
# (a daemon run as nobody: limits refused, or dropped with a note when
# best_effort).
find_program(GRPC_PYTHON_PLUGIN grpc_python_plugin)
find_program(PROTOC protoc)
if(GRPC_PYTHON_PLUGIN AND PROTOC)
  foreach(pair "execd_python:execd_python_client.py" "execd_exec:test_execd_exec.py"
               "execd_unprivileged:test_execd_unprivileged.py")
    string(REPLACE ":" ";" pair "${pair}")
    list(GET pair 0 name)
    list(GET pair 1 script)
    add_test(NAME integration.${name}
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/${script}
        --daemon $<TARGET_FILE:elide-execd> --module-dir ${ELIDE_BUILD_MODULEDIR}
        --proto-dir ${CMAKE_SOURCE_DIR}/proto --protoc ${PROTOC} --plugin ${GRPC_PYTHON_PLUGIN})
    set_tests_properties(integration.${name} PROPERTIES TIMEOUT 300
      LABELS "integration;execd")
  endforeach()
else()
  message(WARNING "protoc or grpc_python_plugin missing (tests/install-deps.sh installs "
                  "protobuf-compiler-grpc): the Python client tests of elide-execd are skipped")
endif()
