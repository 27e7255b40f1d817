# Unit tests of the js backend module against the mock host: the built js.so
# is dlopened (ELIDE_TEST_JS_MODULE) and runs real node processes.
add_executable(test_js_backend ${CMAKE_CURRENT_LIST_DIR}/test_js_backend.c
  ${CMAKE_CURRENT_LIST_DIR}/mock_host.c)
target_link_libraries(test_js_backend PRIVATE elide_abi ${CMAKE_DL_LIBS} elide_warnings)
target_compile_definitions(test_js_backend PRIVATE ELIDE_TEST_JS_MODULE="$<TARGET_FILE:js>")
add_dependencies(test_js_backend js)
add_test(NAME test_js_backend COMMAND test_js_backend)
set_tests_properties(test_js_backend PROPERTIES TIMEOUT 120)
