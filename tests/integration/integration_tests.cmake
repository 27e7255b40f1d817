# Integration tests: the plugin binary driven over gRPC exactly as Nomad does.
add_executable(test_plugin_lifecycle
  ${CMAKE_CURRENT_LIST_DIR}/test_plugin_lifecycle.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c)
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
option(ELIDE_VALGRIND "Run the plugin lifecycle test under valgrind too" ON)
find_program(VALGRIND valgrind)
if(ELIDE_VALGRIND AND VALGRIND)
  add_test(NAME integration.plugin_lifecycle_valgrind COMMAND test_plugin_lifecycle)
  set_tests_properties(integration.plugin_lifecycle_valgrind PROPERTIES TIMEOUT 600
    LABELS "integration;valgrind"
    ENVIRONMENT "ELIDE_PLUGIN_WRAPPER=${VALGRIND} --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --suppressions=${CMAKE_CURRENT_LIST_DIR}/valgrind.supp")
endif()

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
