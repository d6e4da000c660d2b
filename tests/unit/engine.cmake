spate_add_test(test_engine_internals ${CMAKE_CURRENT_LIST_DIR}/test_engine_internals.c unit 120)
spate_add_test(test_oom ${CMAKE_CURRENT_LIST_DIR}/test_oom.c unit 300)
spate_add_test(test_oom_binary ${CMAKE_CURRENT_LIST_DIR}/test_oom_binary.c unit 300)
