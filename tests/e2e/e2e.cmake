# tests/e2e/e2e.cmake - end-to-end tests: whole pipelines over loopback TCP,
# through the public API only (NetworkWordCount and its failure modes).
spate_add_test(test_tcp_wordcount ${CMAKE_CURRENT_LIST_DIR}/test_tcp_wordcount.c e2e 180)
spate_add_test(test_no_uring ${CMAKE_CURRENT_LIST_DIR}/test_no_uring.c e2e 60)
spate_add_test(test_signals ${CMAKE_CURRENT_LIST_DIR}/test_signals.c e2e 60)
spate_add_test(test_generator ${CMAKE_CURRENT_LIST_DIR}/test_generator.c e2e 120)
spate_add_test(test_files ${CMAKE_CURRENT_LIST_DIR}/test_files.c e2e 60)
spate_add_test(test_listen ${CMAKE_CURRENT_LIST_DIR}/test_listen.c e2e 120)
spate_add_test(test_udp ${CMAKE_CURRENT_LIST_DIR}/test_udp.c e2e 60)
spate_add_test(test_latency ${CMAKE_CURRENT_LIST_DIR}/test_latency.c e2e 60)
spate_add_test(test_binary_inputs ${CMAKE_CURRENT_LIST_DIR}/test_binary_inputs.c e2e 120)
spate_add_test(test_generator_typed ${CMAKE_CURRENT_LIST_DIR}/test_generator_typed.c e2e 180)
