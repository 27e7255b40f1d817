# Unit tests of INI configuration (host/core/ini_config.c, value_parse.c):
# fixtures are written to a temp dir by the test itself, so their modes are
# exact whatever the checkout's umask.
add_executable(test_ini_config ${CMAKE_CURRENT_LIST_DIR}/test_ini_config.c)
target_link_libraries(test_ini_config PRIVATE elide_core elide_warnings)
add_test(NAME test_ini_config COMMAND test_ini_config)
