/**
 * Asynchronous I/O for tasks: sockets, datagrams, pipes, files and a pool of
 * Workers for blocking work. Each facility asks only for its own permission.
 *
 * @module
 */
