# elide_cty: cty-msgpack config decoding/encoding (cty.c) and the matching
# hclspec schema builder (hclspec.c), both driven by one cty_field table.
add_library(elide_cty STATIC
  ${CMAKE_CURRENT_LIST_DIR}/cty.c
  ${CMAKE_CURRENT_LIST_DIR}/hclspec.c)
target_include_directories(elide_cty PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(elide_cty
  PUBLIC elide_proto PkgConfig::MSGPACK
  PRIVATE elide_warnings)
