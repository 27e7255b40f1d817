# Unit tests of the cty layer (host/nomad/cty.c, hclspec.c): decoder,
# encoder, schema builder, and a deterministic random-input robustness test.
foreach(t test_cty test_hclspec test_cty_fuzz)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/..)
  target_link_libraries(${t} PRIVATE elide_cty elide_warnings)
  add_test(NAME ${t} COMMAND ${t})
endforeach()
