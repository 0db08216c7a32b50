/*
 * LD_PRELOAD shim for the packetdrill referee: every TCP socket the script creates uses CUBIC.
 *
 * Linux hosts ship CUBIC (net/ipv4/tcp_cubic.c) and Linux's packetdrill scripts are written for
 * it (their common/defaults.sh sets net.ipv4.tcp_congestion_control=cubic). This machine's kernel
 * defaults to BBR, and a network namespace cannot switch its default to a congestion control that
 * tcp_allowed_congestion_control does not list (tcp_set_default_congestion_control() returns
 * -EPERM outside init_net). One socket may still choose it: setsockopt(TCP_CONGESTION) with
 * CAP_NET_ADMIN (tcp_set_congestion_control()). So packetdrill runs with this library preloaded,
 * and each AF_INET/AF_INET6 stream socket is switched to "cubic" as soon as socket() returns it,
 * before any connect() or listen(). A listener's choice passes to the sockets accept() returns
 * (tcp_ca_openreq_child() keeps a CA set by setsockopt).
 *
 * Built at run time by packetdrill_build.py: cc -shared -fPIC -o cubic_preload.so cubic_preload.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* The socket type without SOCK_NONBLOCK / SOCK_CLOEXEC (include/linux/net.h SOCK_TYPE_MASK). */
#define SOCKET_TYPE_MASK 0xf

int socket(int domain, int type, int protocol)
{
	static int (*real_socket)(int, int, int);

	if (!real_socket)
		real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	int fd = real_socket(domain, type, protocol);
	if (fd >= 0 && (domain == AF_INET || domain == AF_INET6) &&
	    (type & SOCKET_TYPE_MASK) == SOCK_STREAM &&
	    (protocol == 0 || protocol == IPPROTO_TCP)) {
		/* The script sees socket()'s own errno, never this call's. */
		int saved = errno;
		setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", sizeof("cubic") - 1);
		errno = saved;
	}
	return fd;
}
