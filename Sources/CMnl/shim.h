// libmnl for Swift. The socket headers must come before any <linux/netfilter*.h>.
#pragma once
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>

// MNL_SOCKET_BUFFER_SIZE is a macro with a function call in it; Swift cannot import it.
static inline size_t nfc_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }

// setns() is declared by <sched.h> only under _GNU_SOURCE, which Swift's Glibc module is not
// built with; declare it here for the one caller that enters a network namespace.
extern int setns(int fd, int nstype);
static inline int nfc_enter_network_namespace(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }
