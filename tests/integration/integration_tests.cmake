# Integration tests: the plugin binary driven over gRPC exactly as Nomad does.
add_executable(test_plugin_lifecycle
  ${CMAKE_CURRENT_LIST_DIR}/test_plugin_lifecycle.c ${CMAKE_CURRENT_LIST_DIR}/plugin_harness.c)
target_link_libraries(test_plugin_lifecycle PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
  elide_warnings)
target_compile_definitions(test_plugin_lifecycle PRIVATE
  PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>")
add_dependencies(test_plugin_lifecycle nomad-driver-elide elide_python elide-monitor)
add_test(NAME integration.plugin_lifecycle COMMAND test_plugin_lifecycle)
set_tests_properties(integration.plugin_lifecycle PROPERTIES TIMEOUT 120 LABELS integration)
