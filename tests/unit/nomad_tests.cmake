# Unit tests of the Nomad front end's config validation.
add_executable(test_task_config ${CMAKE_CURRENT_LIST_DIR}/test_task_config.c)
target_link_libraries(test_task_config PRIVATE elide_nomad elide_warnings)
add_test(NAME test_task_config COMMAND test_task_config)

add_executable(test_log ${CMAKE_CURRENT_LIST_DIR}/test_log.c)
target_link_libraries(test_log PRIVATE elide_core elide_warnings)
add_test(NAME test_log COMMAND test_log)
