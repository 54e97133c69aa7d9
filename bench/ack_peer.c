/* A minimal, fast netdump peer for benchmarks: it speaks just enough of
 * netdumpd's protocol (herald -> new per-dump socket connected to the
 * client's port, every message acked with its own seqno, FINISHED ends the
 * dump) and throws the data away, so a benchmark measures the client, not
 * the server. With --sink it only reads and discards datagrams.
 * Usage: ack_peer ADDR HERALD_PORT CLIENT_PORT [--sink] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp_bound(const char *addr, int port) {
    struct sockaddr_in sa;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int rcv = 4 << 20;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
    return s;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ack_peer ADDR HERALD_PORT CLIENT_PORT [--sink]\n"); return 2; }
    const char *addr = argv[1];
    int hport = atoi(argv[2]), cport = atoi(argv[3]);
    int sink = argc > 4 && strcmp(argv[4], "--sink") == 0;
    int hs = udp_bound(addr, hport);
    unsigned char buf[65536];
    printf("ready\n");
    fflush(stdout);
    if (sink) {
        for (;;) if (recv(hs, buf, sizeof buf, 0) < 0) return 1;
    }
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(hs, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 24 || ntohl(*(uint32_t *)buf) != 1) continue; /* herald only */
        int ss = udp_bound(addr, 0);
        from.sin_port = htons(cport);
        if (connect(ss, (struct sockaddr *)&from, sizeof from) < 0) { perror("connect"); return 1; }
        send(ss, buf + 4, 4, 0); /* ack the herald from the per-dump socket */
        unsigned long pkts = 0, bytes = 0;
        for (;;) {
            struct pollfd p = {ss, POLLIN, 0};
            if (poll(&p, 1, 30000) <= 0) break; /* idle: drop the dump */
            n = recv(ss, buf, sizeof buf, 0);
            if (n < 24) continue;
            uint32_t type = ntohl(*(uint32_t *)buf);
            send(ss, buf + 4, 4, 0);
            pkts++;
            bytes += (unsigned long)(n - 24);
            if (type == 2) break; /* FINISHED */
        }
        printf("dump %lu packets %lu bytes\n", pkts, bytes);
        fflush(stdout);
        close(ss);
    }
}
