# host/rpc tests: the Echo test service (unit/rpc_test.proto, compiled with
# protoc-c at build time) served over real Unix sockets, driven by the C
# client (test_rpc_server) and by Debian's Python grpcio (test_rpc_python).
set(rpc_test_gen "${CMAKE_CURRENT_BINARY_DIR}/rpc_test_gen")
set(rpc_test_proto "${CMAKE_CURRENT_SOURCE_DIR}/unit/rpc_test.proto")
file(MAKE_DIRECTORY "${rpc_test_gen}")
add_custom_command(
  OUTPUT "${rpc_test_gen}/rpc_test.pb-c.c" "${rpc_test_gen}/rpc_test.pb-c.h"
  COMMAND ${PROTOC_C} --c_out=${rpc_test_gen} -I${CMAKE_CURRENT_SOURCE_DIR}/unit ${rpc_test_proto}
  DEPENDS "${rpc_test_proto}"
  COMMENT "protoc-c rpc_test.proto")

add_library(elide_rpc_test_proto STATIC "${rpc_test_gen}/rpc_test.pb-c.c")
target_include_directories(elide_rpc_test_proto PUBLIC "${rpc_test_gen}")
target_link_libraries(elide_rpc_test_proto PUBLIC PkgConfig::PROTOBUFC)
target_compile_options(elide_rpc_test_proto PRIVATE -w)

add_library(elide_rpc_test_service STATIC unit/rpc_test_service.c)
target_include_directories(elide_rpc_test_service
  PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(elide_rpc_test_service PUBLIC elide_rpc elide_rpc_test_proto
  PRIVATE elide_warnings)

add_executable(test_rpc_server unit/test_rpc_server.c)
target_link_libraries(test_rpc_server PRIVATE elide_rpc_test_service elide_warnings)
add_test(NAME rpc_server COMMAND test_rpc_server)
set_tests_properties(rpc_server PROPERTIES TIMEOUT 120)

# Debian's python3 (the `python3` first on PATH may be a pyenv shim without
# the python3-grpcio package); skipped (77) when absent.
add_executable(test_rpc_python unit/test_rpc_python.c)
target_link_libraries(test_rpc_python PRIVATE elide_rpc_test_service elide_warnings)
add_test(NAME rpc_python_client
  COMMAND test_rpc_python /usr/bin/python3
          ${CMAKE_CURRENT_SOURCE_DIR}/unit/rpc_python_client.py ${rpc_test_proto})
set_tests_properties(rpc_python_client PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
