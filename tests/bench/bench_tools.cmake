# The benchmark's C load generator (tests/bench/tput_client.c), run by
# bench.py for the throughput figure beside its python client.
add_executable(elide-bench-tput ${CMAKE_SOURCE_DIR}/tests/bench/tput_client.c)
target_link_libraries(elide-bench-tput PRIVATE elide_rpc elide_proto PkgConfig::MSGPACK
  elide_warnings)
