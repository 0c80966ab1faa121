#include "ff_curve.h"
#include "ff_log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

struct ff_curve {
    zcert_t *cert;              // own certificate (public + secret); NULL = no CURVE
    char server_key [41];       // Z85 public key of the server; "" = none
    char *key_prefix;           // how configuration keys are named in messages
    char *cert_path;            // for messages
    bool uses_auth;             // holds a reference on the process's zauth
};

//  The process's zauth: ZAP is one handler per context, so every service
//  in the process shares it (and its allowed directory).
static pthread_mutex_t s_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_auth;
static char *s_auth_dir;
static int s_auth_users;

static ff_curve_t *s_client_default;

static int
s_auth_join (const char *dir, const char *key_prefix, char *err, size_t err_size)
{
    int rc = 0;
    pthread_mutex_lock (&s_auth_lock);
    if (s_auth) {
        if (strcmp (s_auth_dir, dir) != 0) {
            snprintf (err, err_size, "%sallowed_dir %s: this process already authenticates "
                      "against %s (one allowed directory per process)", key_prefix, dir,
                      s_auth_dir);
            rc = -1;
        }
        else
            s_auth_users++;
    }
    else {
        s_auth = zactor_new (zauth, NULL);
        if (!s_auth) {
            snprintf (err, err_size, "%sallowed_dir %s: cannot start the ZAP handler "
                      "(zauth): %s", key_prefix, dir, zmq_strerror (zmq_errno ()));
            rc = -1;
        }
        else {
            if (ff_log_enabled (FF_LOG_DEBUG)) {
                zstr_sendx (s_auth, "VERBOSE", NULL);
                zsock_wait (s_auth);
            }
            zstr_sendx (s_auth, "CURVE", dir, NULL);
            zsock_wait (s_auth);
            s_auth_dir = strdup (dir);
            s_auth_users = 1;
        }
    }
    pthread_mutex_unlock (&s_auth_lock);
    return rc;
}

static void
s_auth_leave (void)
{
    pthread_mutex_lock (&s_auth_lock);
    if (--s_auth_users == 0) {
        zactor_destroy (&s_auth);
        free (s_auth_dir);
        s_auth_dir = NULL;
    }
    pthread_mutex_unlock (&s_auth_lock);
}

//  A certificate file is a few hundred bytes of ZPL text.
#define S_CERT_MAX 8192

//  Loads a certificate file; with need_secret, one holding a secret key.
//  NULL with the reason in err.
static zcert_t *
s_cert_load (const char *key, const char *path, bool need_secret, char *err, size_t err_size)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, err_size, "%s %s: %s", key, path, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        snprintf (err, err_size, "%s %s: not a regular file", key, path);
        return NULL;
    }
    //  zcert_load tries "<path>_secret" first: load the exact file, so a
    //  public certificate is never silently completed by its secret twin.
    //  Read here (zconfig_load leaks when the text does not parse).
    if (st.st_size > S_CERT_MAX) {
        snprintf (err, err_size, "%s %s: not a CURVE certificate (over %d bytes)", key, path,
                  S_CERT_MAX);
        return NULL;
    }
    char text [S_CERT_MAX + 1];
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, err_size, "%s %s: %s", key, path, strerror (errno));
        return NULL;
    }
    size_t size = fread (text, 1, S_CERT_MAX, file);
    fclose (file);
    text [size] = '\0';
    zconfig_t *root = zconfig_str_load (text);
    const char *public_text = root ? zconfig_get (root, "/curve/public-key", NULL) : NULL;
    const char *secret_text = root ? zconfig_get (root, "/curve/secret-key", NULL) : NULL;
    zcert_t *cert = NULL;
    if (!public_text || strlen (public_text) != 40)
        snprintf (err, err_size, "%s %s: not a CURVE certificate (no 40-character "
                  "curve/public-key)", key, path);
    else
    if (need_secret && (!secret_text || strlen (secret_text) != 40))
        snprintf (err, err_size, "%s %s: no secret key in this certificate (give the "
                  "NAME.cert_secret file, not the public NAME.cert)", key, path);
    else {
        uint8_t public_key [32] = { 0 };
        uint8_t secret_key [32] = { 0 };
        if (!zmq_z85_decode (public_key, public_text)
        ||  (secret_text && strlen (secret_text) == 40 && !zmq_z85_decode (secret_key, secret_text)))
            snprintf (err, err_size, "%s %s: a key is not valid Z85", key, path);
        else
            cert = zcert_new_from (public_key, secret_key);
        memset (secret_key, 0, sizeof secret_key);
    }
    zconfig_destroy (&root);
    return cert;
}

ff_curve_t *
ff_curve_new (const char *cert, const char *allowed_dir, const char *server_cert,
              const char *key_prefix, char *err, size_t err_size)
{
    *err = '\0';
    cert = cert ? cert : "";
    allowed_dir = allowed_dir ? allowed_dir : "";
    server_cert = server_cert ? server_cert : "";
    if (!*cert && !*allowed_dir && !*server_cert)
        return NULL;
    char key [96];
    if (!*cert) {
        snprintf (err, err_size, "%s%s is set but %scert is not: CURVE needs this process's "
                  "own certificate", key_prefix, *allowed_dir ? "allowed_dir" : "server_cert",
                  key_prefix);
        //  farfanctl's flags use dashes.
        if (strchr (key_prefix, '-'))
            for (char *c = err; *c; c++)
                if (*c == '_')
                    *c = '-';
        return NULL;
    }
    ff_curve_t *self = (ff_curve_t *) zmalloc (sizeof (ff_curve_t));
    self->key_prefix = strdup (key_prefix);
    self->cert_path = strdup (cert);

    snprintf (key, sizeof key, "%scert", key_prefix);
    self->cert = s_cert_load (key, cert, true, err, err_size);
    if (!self->cert)
        goto failed;
    if (*server_cert) {
        snprintf (key, sizeof key, "%sserver%scert", key_prefix,
                  strchr (key_prefix, '-') ? "-" : "_");
        zcert_t *server = s_cert_load (key, server_cert, false, err, err_size);
        if (!server)
            goto failed;
        snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (server));
        zcert_destroy (&server);
    }
    if (*allowed_dir) {
        snprintf (key, sizeof key, "%sallowed%sdir", key_prefix,
                  strchr (key_prefix, '-') ? "-" : "_");
        struct stat st;
        if (stat (allowed_dir, &st) != 0) {
            snprintf (err, err_size, "%s %s: %s", key, allowed_dir, strerror (errno));
            goto failed;
        }
        if (!S_ISDIR (st.st_mode)) {
            snprintf (err, err_size, "%s %s: not a directory", key, allowed_dir);
            goto failed;
        }
        if (s_auth_join (allowed_dir, key_prefix, err, err_size) != 0)
            goto failed;
        self->uses_auth = true;
    }
    return self;

failed:
    ff_curve_destroy (&self);
    return NULL;
}

void
ff_curve_destroy (ff_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ff_curve_t *self = *self_p;
    if (self->uses_auth)
        s_auth_leave ();
    if (s_client_default == self)
        s_client_default = NULL;
    zcert_destroy (&self->cert);
    free (self->key_prefix);
    free (self->cert_path);
    free (self);
    *self_p = NULL;
}

int
ff_curve_attach (ff_curve_t *self, zsock_t *sock, const char *endpoint, bool bind,
                 char *err, size_t err_size)
{
    void *handle = zsock_resolve (sock);
    bool curve = self && strncmp (endpoint, "tcp://", 6) == 0;
    if (curve) {
        zcert_apply (self->cert, sock);
        if (bind) {
            if (!self->uses_auth) {
                snprintf (err, err_size, "bind %s: a CURVE server needs %sallowed%sdir (the "
                          "clients let in)", endpoint, self->key_prefix,
                          strchr (self->key_prefix, '-') ? "-" : "_");
                return -1;
            }
            zsock_set_curve_server (sock, 1);
            zsock_set_zap_domain (sock, FF_CURVE_ZAP_DOMAIN);
        }
        else {
            if (!*self->server_key) {
                snprintf (err, err_size, "connect %s: CURVE is on (%scert %s) but the server's "
                          "public certificate is not given (%sserver%scert)", endpoint,
                          self->key_prefix, self->cert_path, self->key_prefix,
                          strchr (self->key_prefix, '-') ? "-" : "_");
                return -1;
            }
            zsock_set_curve_server (sock, 0);
            zsock_set_curve_serverkey (sock, self->server_key);
        }
    }
    else
    if (self) {
        //  Options apply to the endpoints attached after them: an ipc or
        //  inproc endpoint after a tcp one goes back to NULL security.
        //  libzmq refuses an empty ZAP domain, so a bound socket keeps
        //  "farfan": its NULL-security peers are then asked of zauth, which
        //  lets NULL in (no ALLOW/DENY lists are configured).
        zsock_set_curve_server (sock, 0);
    }
    int rc = bind ? zmq_bind (handle, endpoint) : zmq_connect (handle, endpoint);
    if (rc != 0) {
        snprintf (err, err_size, "%s %s: %s", bind ? "bind" : "connect", endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

const char *
ff_curve_public_key (ff_curve_t *self)
{
    return zcert_public_txt (self->cert);
}

void
ff_curve_set_client_default (ff_curve_t *curve)
{
    s_client_default = curve;
}

ff_curve_t *
ff_curve_client_default (void)
{
    return s_client_default;
}
