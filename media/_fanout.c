/* media._fanout: one packet's copies to every listener of a slot, in one call.
 *
 * The pure-Python fan-out (media/fanout.py, PythonGroup) does, per listener, a call into
 * pylibsrtp (which allocates a new bytes object) and a Python socket.sendto. This module
 * does the same work below Python: for each target it copies the RTP packet into one
 * scratch buffer, SRTP-protects it with the listener's own libsrtp session (the one aiortc
 * negotiated at the DTLS handshake) and hands it to the kernel with sendto on the
 * listener's own ICE socket. The GIL is released for the loop.
 *
 * It is not linked against libsrtp: the address of srtp_protect comes from pylibsrtp's
 * cffi module at run time (media/fanout.py), so both paths run the same libsrtp code on
 * the same session state, and their datagrams are byte for byte the same.
 *
 * Lifetimes are the caller's: a Group keeps a reference to every object passed in `keep`
 * (the pylibsrtp sessions, whose memory the raw srtp_t pointers point into), and the caller
 * calls set() again before send() whenever a socket may have closed (media/forwarder.py
 * marks the room dirty from the socket's connection_lost, which runs just before asyncio
 * closes the file descriptor).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* As pylibsrtp: a 1500-byte buffer, of which SRTP_MAX_TRAILER_LEN is kept for the tag. */
#define TRAILER_MAX 144
#define RTP_MAX (1500 - TRAILER_MAX)

typedef int (*protect_fn)(void *ctx, void *rtp, int *len);

typedef struct {
    void *srtp;
    int fd;
    socklen_t addrlen;
    struct sockaddr_storage addr;
    long long member;
} Target;

typedef struct {
    PyObject_HEAD
    protect_fn protect;
    Target *targets;
    Py_ssize_t count;
    PyObject *keep;
    unsigned long long protect_errors;
    unsigned long long send_errors;
    int busy; /* a send() is running without the GIL: set() and send() must wait */
    unsigned char buffer[RTP_MAX + TRAILER_MAX];
} Group;

static int
address_of(PyObject *value, const char *what, void **out)
{
    /* An address as a Python int: 1 .. UINTPTR_MAX, nothing wrapped. */
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    unsigned long long address = PyLong_AsUnsignedLongLong(value);
    if (address == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (address == 0 || address > UINTPTR_MAX) {
        PyErr_Format(PyExc_ValueError, "%s is not an address", what);
        return -1;
    }
    *out = (void *)(uintptr_t)address;
    return 0;
}

static int
ready(Group *self)
{
    if (self->protect == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Group() was not initialised");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the group is sending");
        return -1;
    }
    return 0;
}

static int
parse_address(PyObject *host, int port, Target *target)
{
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(host, &size);
    if (text == NULL)
        return -1;
    if ((size_t)size != strlen(text)) {
        PyErr_SetString(PyExc_ValueError, "a host can't contain NUL");
        return -1;
    }
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(&target->addr, 0, sizeof(target->addr));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&target->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&target->addr;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        target->addrlen = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        target->addrlen = sizeof(*v6);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %R", host);
    return -1;
}

static int
Group_init(Group *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"protect", NULL};
    PyObject *address;
    void *protect;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &address))
        return -1;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the group is sending");
        return -1;
    }
    if (address_of(address, "protect (the address of srtp_protect)", &protect) < 0)
        return -1;
    self->protect = (protect_fn)protect;
    return 0;
}

static int
Group_traverse(Group *self, visitproc visit, void *arg)
{
    Py_VISIT(self->keep);
    return 0;
}

static int
Group_clear(Group *self)
{
    /* The targets point into what keep holds: they go with it. */
    if (!self->busy) {
        PyMem_Free(self->targets);
        self->targets = NULL;
        self->count = 0;
    }
    Py_CLEAR(self->keep);
    return 0;
}

static void
Group_dealloc(Group *self)
{
    PyObject_GC_UnTrack(self);
    Group_clear(self);
    PyMem_Free(self->targets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(Group_set_doc,
"set(targets, keep)\n\n"
"Replace the listeners. targets: a sequence of (srtp_t address, socket fd, host, port,\n"
"member id). keep: any object; the group holds it (the sessions the addresses point into)\n"
"until the next set().");

static PyObject *
Group_set(Group *self, PyObject *args)
{
    PyObject *targets, *keep;
    if (!PyArg_ParseTuple(args, "OO", &targets, &keep))
        return NULL;
    if (ready(self) < 0)
        return NULL;
    /* A private copy: the caller's list can't change under us while items are parsed. */
    PyObject *items = PySequence_Tuple(targets);
    if (items == NULL)
        return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(items);
    Target *fresh = PyMem_Calloc(count ? count : 1, sizeof(Target));
    if (fresh == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        PyObject *srtp, *host;
        int fd, port;
        long long member;
        if (!PyTuple_Check(item)) {
            PyErr_SetString(PyExc_TypeError,
                            "a target is a tuple (srtp_t address, fd, host, port, member)");
            goto fail;
        }
        if (!PyArg_ParseTuple(item, "OiUiL", &srtp, &fd, &host, &port, &member)
            || address_of(srtp, "a target's session", &fresh[i].srtp) < 0
            || parse_address(host, port, &fresh[i]) < 0)
            goto fail;
        if (fd < 0) {
            PyErr_SetString(PyExc_ValueError, "a target needs an open socket");
            goto fail;
        }
        fresh[i].fd = fd;
        fresh[i].member = member;
    }
    Py_DECREF(items);
    /* ready() said no send() is running, and nothing above released the GIL. */
    PyMem_Free(self->targets);
    self->targets = fresh;
    self->count = count;
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    Py_RETURN_NONE;
fail:
    PyMem_Free(fresh);
    Py_DECREF(items);
    return NULL;
}

PyDoc_STRVAR(Group_send_doc,
"send(header, payload, skip) -> int\n\n"
"SRTP-protect header + payload for every target but member `skip` and send each copy on\n"
"its socket. Returns the copies handed to the kernel. A copy libsrtp refuses or the\n"
"kernel refuses (a full send buffer) is counted in protect_errors / send_errors and\n"
"skipped, as the pure-Python path skips it.");

static PyObject *
Group_send(Group *self, PyObject *args)
{
    Py_buffer header, payload;
    long long skip;
    if (ready(self) < 0)
        return NULL;
    if (!PyArg_ParseTuple(args, "y*y*L", &header, &payload, &skip))
        return NULL;
    Py_ssize_t length = header.len + payload.len;
    if (length > RTP_MAX) {
        PyBuffer_Release(&header);
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    Py_ssize_t sent = 0;
    unsigned long long protect_errors = 0, send_errors = 0;
    unsigned char *buffer = self->buffer;
    Target *targets = self->targets;
    Py_ssize_t count = self->count;
    protect_fn protect = self->protect;
    /* Without the GIL another thread could call set() and free the targets (or keep, and
     * with it the sessions) under this loop: busy makes it refuse until the loop is done. */
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        Target *t = &targets[i];
        if (t->member == skip)
            continue;
        /* libsrtp protects in place: the packet is copied for each listener. */
        memcpy(buffer, header.buf, header.len);
        memcpy(buffer + header.len, payload.buf, payload.len);
        int len = (int)length;
        if (protect(t->srtp, buffer, &len) != 0) {
            protect_errors++;
            continue;
        }
        if (sendto(t->fd, buffer, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&t->addr,
                   t->addrlen) < 0) {
            send_errors++;
            continue;
        }
        sent++;
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    self->protect_errors += protect_errors;
    self->send_errors += send_errors;
    PyBuffer_Release(&header);
    PyBuffer_Release(&payload);
    return PyLong_FromSsize_t(sent);
}

static PyObject *
Group_get_protect_errors(Group *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->protect_errors);
}

static PyObject *
Group_get_send_errors(Group *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->send_errors);
}

static PyMethodDef Group_methods[] = {
    {"set", (PyCFunction)Group_set, METH_VARARGS, Group_set_doc},
    {"send", (PyCFunction)Group_send, METH_VARARGS, Group_send_doc},
    {NULL},
};

static PyGetSetDef Group_getset[] = {
    {"protect_errors", (getter)Group_get_protect_errors, NULL, "copies libsrtp refused", NULL},
    {"send_errors", (getter)Group_get_send_errors, NULL, "copies the kernel refused", NULL},
    {NULL},
};

static Py_ssize_t
Group_length(Group *self)
{
    return self->count;
}

static PySequenceMethods Group_as_sequence = {
    .sq_length = (lenfunc)Group_length,
};

static PyTypeObject GroupType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._fanout.Group",
    .tp_doc = PyDoc_STR("The listeners of one slot and payload type, for send()."),
    .tp_basicsize = sizeof(Group),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Group_traverse,
    .tp_clear = (inquiry)Group_clear,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Group_init,
    .tp_dealloc = (destructor)Group_dealloc,
    .tp_methods = Group_methods,
    .tp_getset = Group_getset,
    .tp_as_sequence = &Group_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media._fanout",
    .m_doc = PyDoc_STR("Batched SRTP protect and send for the forwarder (see media/fanout.py)."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__fanout(void)
{
    if (PyType_Ready(&GroupType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&GroupType);
    if (PyModule_AddObject(m, "Group", (PyObject *)&GroupType) < 0) {
        Py_DECREF(&GroupType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
