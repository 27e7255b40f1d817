# The benchmark's C load generator (tests/bench/tput_client.c), run by
# bench.py for the throughput figure beside its python client.
add_executable(elide-bench-tput ${CMAKE_SOURCE_DIR}/tests/bench/tput_client.c
  ${CMAKE_SOURCE_DIR}/tests/integration/plugin_harness.c)
target_include_directories(elide-bench-tput PRIVATE ${CMAKE_SOURCE_DIR}/tests/integration)
target_compile_definitions(elide-bench-tput PRIVATE PLUGIN_BINARY="$<TARGET_FILE:nomad-driver-elide>")
target_link_libraries(elide-bench-tput PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
  elide_warnings)
