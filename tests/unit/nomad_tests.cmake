# Unit tests of the Nomad front end's config validation.
add_executable(test_task_config ${CMAKE_CURRENT_LIST_DIR}/test_task_config.c)
target_link_libraries(test_task_config PRIVATE elide_nomad elide_warnings)
add_test(NAME test_task_config COMMAND test_task_config)

add_executable(test_log ${CMAKE_CURRENT_LIST_DIR}/test_log.c)
target_link_libraries(test_log PRIVATE elide_core elide_warnings)
add_test(NAME test_log COMMAND test_log)

# Go-style durations of the `timeout` task options.
add_executable(test_duration ${CMAKE_CURRENT_LIST_DIR}/test_duration.c)
target_link_libraries(test_duration PRIVATE elide_nomad elide_warnings)
add_test(NAME test_duration COMMAND test_duration)

# The exec context a task hands down (StartTask's copy, RecoverTask's rebuild).
add_executable(test_task_context ${CMAKE_CURRENT_LIST_DIR}/test_task_context.c)
target_link_libraries(test_task_context PRIVATE elide_nomad elide_warnings)
add_test(NAME test_task_context COMMAND test_task_context)
