/* The map side's per-record loops, compiled: see mapreduce/collect.py, whose pure-Python
 * functions these mirror exactly (same results, same errors) and which is used when this
 * module was not built.
 *
 * A map calls one of these with its buffer and the mapper's pairs; each consumes at most
 * `limit` pairs and returns how many it consumed (fewer only when the pairs ran out).
 * Exceptions from the pairs' iterator (the user's mapper) propagate unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <structmember.h>

/* Unpack one pair as `key, value = item` would; new references, or -1 with an error set. */
static int
unpack_pair(PyObject *item, PyObject **key, PyObject **value)
{
    if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
        *key = Py_NewRef(PyTuple_GET_ITEM(item, 0));
        *value = Py_NewRef(PyTuple_GET_ITEM(item, 1));
        return 0;
    }
    PyObject *it = PyObject_GetIter(item);
    if (it == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                         Py_TYPE(item)->tp_name);
        }
        return -1;
    }
    PyObject *got[3] = {NULL, NULL, NULL};
    Py_ssize_t n = 0;
    for (; n < 3; n++) {
        got[n] = PyIter_Next(it);
        if (got[n] == NULL) {
            break;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        goto fail;
    }
    if (n == 2) {
        *key = got[0];
        *value = got[1];
        return 0;
    }
    if (n < 2) {
        PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 2, got %zd)", n);
    }
    else {
        PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 2)");
    }
fail:
    for (Py_ssize_t i = 0; i < 3; i++) {
        Py_XDECREF(got[i]);
    }
    return -1;
}

/* A loop's arguments, (dict, iterator, int): 0, or -1 with TypeError saying `usage`. */
static int
loop_args(PyObject *const *args, Py_ssize_t nargs, const char *usage, PyObject **target,
          PyObject **pairs, Py_ssize_t *limit)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyIter_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    *target = args[0];
    *pairs = args[1];
    *limit = PyLong_AsSsize_t(args[2]);
    return (*limit == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The next pair of `pairs`, unpacked: 1 with new references in *key and *value, 0 when the
 * pairs ran out, -1 with an error set (from the iterator, or a pair that does not unpack). */
static int
next_pair(PyObject *pairs, PyObject **key, PyObject **value)
{
    PyObject *item = PyIter_Next(pairs);
    if (item == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    int bad = unpack_pair(item, key, value);
    Py_DECREF(item);
    return bad ? -1 : 1;
}

/* Replace the pending TypeError of `acc + value` by one that names the key, caused by it,
 * as mapreduce.collect's Python twin raises it. */
static void
say_sum_failed(PyObject *key, PyObject *value)
{
    PyObject *type, *cause, *tb;
    PyErr_Fetch(&type, &cause, &tb);
    PyErr_NormalizeException(&type, &cause, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(cause, tb);
    }
    PyErr_Format(PyExc_TypeError, "mapreduce.sum cannot add the value %R of key %R: %S",
                 value, key, cause);
    PyObject *type2, *exc, *tb2;
    PyErr_Fetch(&type2, &exc, &tb2);
    PyErr_NormalizeException(&type2, &exc, &tb2);
    Py_INCREF(cause);
    PyException_SetContext(exc, cause); /* steals */
    PyException_SetCause(exc, cause);   /* steals */
    PyErr_Restore(type2, exc, tb2);
    Py_XDECREF(type);
    Py_XDECREF(tb);
}

/* fold_sum(folded: dict, pairs: iterator, limit: int) -> int
 * folded[key] = folded.get(key, 0) + value, for up to `limit` pairs. */
static PyObject *
fold_sum(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *folded, *pairs;
    Py_ssize_t limit;
    if (loop_args(args, nargs, "fold_sum(folded: dict, pairs: iterator, limit: int)", &folded, &pairs,
                  &limit) < 0) {
        return NULL;
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return NULL;
    }
    Py_ssize_t n = 0;
    while (n < limit) {
        PyObject *key, *value;
        int got = next_pair(pairs, &key, &value);
        if (got <= 0) {
            if (got < 0) {
                goto error;
            }
            break;
        }
        n++;
        PyObject *acc = PyDict_GetItemWithError(folded, key); /* borrowed */
        if (acc == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            Py_DECREF(value);
            goto error;
        }
        PyObject *sum = PyNumber_Add(acc != NULL ? acc : zero, value);
        if (sum == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                say_sum_failed(key, value);
            }
            Py_DECREF(key);
            Py_DECREF(value);
            goto error;
        }
        int failed = PyDict_SetItem(folded, key, sum);
        Py_DECREF(sum);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            goto error;
        }
    }
    Py_DECREF(zero);
    return PyLong_FromSsize_t(n);
error:
    Py_DECREF(zero);
    return NULL;
}

/* collect(groups: dict, pairs: iterator, limit: int) -> int
 * groups.setdefault(key, []).append(value), for up to `limit` pairs. */
static PyObject *
collect(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *groups, *pairs;
    Py_ssize_t limit;
    if (loop_args(args, nargs, "collect(groups: dict, pairs: iterator, limit: int)", &groups, &pairs,
                  &limit) < 0) {
        return NULL;
    }
    Py_ssize_t n = 0;
    while (n < limit) {
        PyObject *key, *value;
        int got = next_pair(pairs, &key, &value);
        if (got <= 0) {
            if (got < 0) {
                return NULL;
            }
            break;
        }
        n++;
        PyObject *values = PyDict_GetItemWithError(groups, key); /* borrowed */
        int failed = 0;
        if (values == NULL) {
            if (PyErr_Occurred()) {
                failed = 1;
            }
            else {
                PyObject *fresh = PyList_New(1);
                if (fresh == NULL) {
                    failed = 1;
                }
                else {
                    PyList_SET_ITEM(fresh, 0, Py_NewRef(value));
                    failed = PyDict_SetItem(groups, key, fresh);
                    Py_DECREF(fresh);
                }
            }
        }
        else {
            failed = PyList_Append(values, value);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            return NULL;
        }
    }
    return PyLong_FromSsize_t(n);
}

/* Tally(iterable): its items passed on unchanged, counted (`count`), the last one kept
 * (`last`, None before the first): a map's records, so the mapper is called straight from
 * C (`starmap`) and the task still knows how many records it mapped and which one a failing
 * mapper was on. */
typedef struct {
    PyObject_HEAD
    PyObject *it;
    PyObject *last;
    Py_ssize_t count;
} TallyObject;

static int
tally_traverse(TallyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->it);
    Py_VISIT(self->last);
    return 0;
}

static int
tally_clear(TallyObject *self)
{
    Py_CLEAR(self->it);
    Py_CLEAR(self->last);
    return 0;
}

static void
tally_dealloc(TallyObject *self)
{
    PyObject_GC_UnTrack(self);
    tally_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
tally_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *iterable;
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) ||
        !PyArg_UnpackTuple(args, "Tally", 1, 1, &iterable)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "Tally(iterable) takes no keyword arguments");
        }
        return NULL;
    }
    PyObject *it = PyObject_GetIter(iterable);
    if (it == NULL) {
        return NULL;
    }
    TallyObject *self = (TallyObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    self->it = it;
    self->last = Py_NewRef(Py_None);
    self->count = 0;
    return (PyObject *)self;
}

static PyObject *
tally_next(TallyObject *self)
{
    PyObject *item = PyIter_Next(self->it); /* NULL: ended, or an error is set */
    if (item == NULL) {
        return NULL;
    }
    self->count++;
    Py_SETREF(self->last, Py_NewRef(item));
    return item;
}

static PyMemberDef tally_members[] = {
    {"count", T_PYSSIZET, offsetof(TallyObject, count), READONLY, "items passed on so far"},
    {"last", T_OBJECT, offsetof(TallyObject, last), READONLY,
     "the last item passed on (None before the first)"},
    {NULL},
};

static PyTypeObject TallyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mapreduce._collect.Tally",
    .tp_basicsize = sizeof(TallyObject),
    .tp_dealloc = (destructor)tally_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Tally(iterable): its items unchanged, counted (count), the last kept (last).",
    .tp_traverse = (traverseproc)tally_traverse,
    .tp_clear = (inquiry)tally_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)tally_next,
    .tp_members = tally_members,
    .tp_new = tally_new,
};

static PyMethodDef methods[] = {
    {"fold_sum", (PyCFunction)(void (*)(void))fold_sum, METH_FASTCALL,
     "fold_sum(folded, pairs, limit) -> pairs consumed: folded[k] = folded.get(k, 0) + v"},
    {"collect", (PyCFunction)(void (*)(void))collect, METH_FASTCALL,
     "collect(groups, pairs, limit) -> pairs consumed: groups.setdefault(k, []).append(v)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mapreduce._collect",
    "The map side's per-record loops, compiled (see mapreduce/collect.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__collect(void)
{
    if (PyType_Ready(&TallyType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Tally", (PyObject *)&TallyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
