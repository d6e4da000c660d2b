# io/: the double-mapped SPSC ring and the io_uring socket receiver.
spate_add_test(test_ring ${CMAKE_CURRENT_LIST_DIR}/test_ring.c unit 240)
spate_add_test(test_receiver_socket ${CMAKE_CURRENT_LIST_DIR}/test_receiver_socket.c unit 120)
