#include "ff_socket.h"

#include <errno.h>
#include <string.h>

static int
s_attach_one (zsock_t *sock, const char *endpoint, bool default_bind,
              const ff_socket_limits_t *limits, char *err, size_t err_size)
{
    bool bind = default_bind;
    if (*endpoint == '@' || *endpoint == '>') {
        bind = *endpoint == '@';
        endpoint++;
    }
    return ff_curve_attach (limits->curve, sock, endpoint, bind, err, err_size);
}

zsock_t *
ff_socket_new (int type, const char *endpoints, bool default_bind,
               const ff_socket_limits_t *limits, char *err, size_t err_size)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        snprintf (err, err_size, "cannot create socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_sndhwm (sock, limits->hwm);
    zsock_set_rcvhwm (sock, limits->hwm);
    int64_t max_msg_size = limits->max_msg_size;
    zmq_setsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &max_msg_size, sizeof max_msg_size);
    zsock_set_linger (sock, 0);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory (sock, 1);

    char *list = strdup (endpoints ? endpoints : "");
    if (!list) {
        snprintf (err, err_size, "out of memory");
        zsock_destroy (&sock);
        return NULL;
    }
    //  Before the first bind or connect; unwatched again before a close.
    ff_sockmon_watch (limits->monitor, sock, limits->name);
    char *saveptr = NULL;
    for (char *item = strtok_r (list, ",", &saveptr); item;
         item = strtok_r (NULL, ",", &saveptr)) {
        if (s_attach_one (sock, item, default_bind, limits, err, err_size) != 0) {
            ff_sockmon_unwatch (limits->monitor, sock);
            zsock_destroy (&sock);
            break;
        }
    }
    free (list);
    return sock;
}
