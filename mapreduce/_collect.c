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

/* Take up to `limit` pairs from `pairs`, each handed to `add(target, key, value)` (0, or -1
 * with an error set); how many were taken, or NULL on an error (the pairs' own, the
 * unpacking's, or add's). */
static PyObject *
each_pair(PyObject *pairs, Py_ssize_t limit, int (*add)(void *, PyObject *, PyObject *),
          void *target)
{
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
        int failed = add(target, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            return NULL;
        }
    }
    return PyLong_FromSsize_t(n);
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

/* groups.setdefault(key, []).append(value) */
static int
group_add(void *target, PyObject *key, PyObject *value)
{
    PyObject *groups = target;
    PyObject *values = PyDict_GetItemWithError(groups, key); /* borrowed */
    if (values != NULL) {
        return PyList_Append(values, value);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *fresh = PyList_New(1);
    if (fresh == NULL) {
        return -1;
    }
    PyList_SET_ITEM(fresh, 0, Py_NewRef(value));
    int failed = PyDict_SetItem(groups, key, fresh);
    Py_DECREF(fresh);
    return failed;
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
    return each_pair(pairs, limit, group_add, groups);
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
    Py_TRASHCAN_BEGIN(self, tally_dealloc) /* a Tally of a Tally of ...: no C frame each */
    tally_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
    Py_TRASHCAN_END
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

/* SumTable(): `mapreduce.sum`'s running result per key, as a dict ``folded[key] =
 * folded.get(key, 0) + value`` would hold them, in a hash table of its own.
 *
 * Each key has an entry (its hash, the key, its sum) in an array kept in the order keys
 * first came; an open-addressing index (linear probing, at most half full) maps a hash to
 * its entry. An int sum is a 64-bit count in the entry until it is not an int any more
 * (a value that is not an int, or past 64 bits): then the entry holds the Python object the
 * sum became. So a pair costs one probe and makes no int object.
 *
 * Why not a dict of key -> slot: a word count's map spends a quarter of its time finding
 * keys, and most of that waiting for memory. A dict lookup reads its index, its entry, the
 * stored key (to compare) and the slot's int, each a cache miss for a rare word; here an
 * index slot carries 32 bits of the hash (a mismatch never reads the entry), and an entry
 * is one cache line holding the characters of a short ASCII key, so a str key usually
 * costs the index and the entry only.
 *
 * Keys compare as a dict compares them: the same object, or equal hashes and ==. The
 * characters held in an entry only stand in for == between two exact ASCII strs. */
#define INLINE_MAX 31      /* the longest key kept in its entry: a str of ASCII characters */
#define NOT_INLINE 0xff    /* SumEntry.size of a key that is not */
#define MIN_SLOTS_LOG2 3

typedef struct {
    Py_hash_t hash;
    PyObject *key;   /* a new reference */
    PyObject *obj;   /* the sum once it is not a 64-bit int (a new reference); else NULL */
    long long count; /* the sum while `obj` is NULL */
    unsigned char size; /* the key's length when its characters are in `text`; NOT_INLINE */
    char text[INLINE_MAX];
} SumEntry;
_Static_assert(sizeof(SumEntry) == 64, "a SumEntry is one cache line");

typedef struct {
    PyObject_HEAD
    void *block;        /* what `entries` was allocated in (aligned to a cache line) */
    SumEntry *entries;  /* `used` of `cap`, in the order the keys first came */
    Py_ssize_t used, cap;
    uint64_t *slots;    /* the index: 0 empty, else (hash tag << 32) | (entry + 1) */
    int shift;          /* 64 - log2(number of slots) */
    unsigned long long probes; /* index slots read by lookups so far: what keys cost */
    int busy; /* in fold: the pairs, keys and values run Python, which must not change the
                 table under it (fold or clear again) */
} SumTableObject;

static inline size_t
slot_count(const SumTableObject *self)
{
    return (size_t)1 << (64 - self->shift);
}

/* Where a hash's probe starts: the hash mixed with a secret of this process (`hash_seed`,
 * from os.urandom) through a 64-bit finalizer, then its top bits. An int's hash is the int
 * itself: unmixed, a mapper's keys taken from someone's data (`yield int(user_id), 1`)
 * could be chosen to share a home slot at every table size, and each new one would walk
 * the whole run (20,000 such keys took 0.67 s, 40,000 took 1.5 s). A str's hash is salted
 * by Python already; equal hashes stay as slow as in a dict. */
static uint64_t hash_seed;

static inline size_t
home_slot(const SumTableObject *self, Py_hash_t hash)
{
    uint64_t h = (uint64_t)hash ^ hash_seed;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (size_t)(h >> self->shift);
}

static inline uint32_t
hash_tag(Py_hash_t hash)
{
    return (uint32_t)(((uint64_t)hash >> 32) ^ (uint64_t)hash);
}

static int
sumtable_enter(SumTableObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "a result table cannot change during its own fold");
        return -1;
    }
    return 0;
}

static int
sumtable_traverse(SumTableObject *self, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < self->used; i++) {
        Py_VISIT(self->entries[i].key);
        Py_VISIT(self->entries[i].obj);
    }
    return 0;
}

/* No keys, no sums. The entries are taken out of the table, and the index emptied, before
 * any key or sum is let go: a __del__ that looks at the table sees it empty, as the Python
 * twin's dict.clear(), and one that folds into it fills a new array, not this one. */
static int
sumtable_clear(SumTableObject *self)
{
    void *block = self->block;
    SumEntry *entries = self->entries;
    Py_ssize_t held = self->used;
    self->block = NULL;
    self->entries = NULL;
    self->used = self->cap = 0;
    if (self->slots != NULL) {
        memset(self->slots, 0, slot_count(self) * sizeof(uint64_t));
    }
    for (Py_ssize_t i = 0; i < held; i++) {
        Py_CLEAR(entries[i].key);
        Py_CLEAR(entries[i].obj);
    }
    PyMem_Free(block);
    return 0;
}

static void
sumtable_dealloc(SumTableObject *self)
{
    PyObject_GC_UnTrack(self);
    /* A chain of tables, each the key of the next, is freed without a C frame each. */
    Py_TRASHCAN_BEGIN(self, sumtable_dealloc)
    sumtable_clear(self);
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
    Py_TRASHCAN_END
}

static PyObject *
sumtable_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "SumTable() takes no arguments");
        return NULL;
    }
    SumTableObject *self = (SumTableObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->shift = 64 - MIN_SLOTS_LOG2;
    self->slots = PyMem_Calloc(slot_count(self), sizeof(uint64_t));
    if (self->slots == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

/* Entry `e` into the index, at the first free slot from its hash's home: a key that has
 * no slot yet (a new one, or every one when the index has grown). */
static void
sumtable_place(SumTableObject *self, Py_ssize_t e)
{
    const Py_hash_t hash = self->entries[e].hash;
    const size_t mask = slot_count(self) - 1;
    size_t i = home_slot(self, hash);
    while (self->slots[i] != 0) {
        i = (i + 1) & mask;
    }
    self->slots[i] = ((uint64_t)hash_tag(hash) << 32) | (uint64_t)(e + 1);
}

/* Room for one more entry: the array, and the index kept at most half full. */
static int
sumtable_make_room(SumTableObject *self)
{
    if (self->used >= (Py_ssize_t)UINT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "SumTable: too many keys");
        return -1;
    }
    if (self->used == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 64;
        if ((size_t)cap > (PY_SSIZE_T_MAX - 64) / sizeof(SumEntry)) {
            PyErr_NoMemory();
            return -1;
        }
        void *block = PyMem_Malloc(cap * sizeof(SumEntry) + 64);
        if (block == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        SumEntry *entries = (SumEntry *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
        if (self->used) {
            memcpy(entries, self->entries, self->used * sizeof(SumEntry));
        }
        PyMem_Free(self->block);
        self->block = block;
        self->entries = entries;
        self->cap = cap;
    }
    if ((size_t)(self->used + 1) * 2 > slot_count(self)) {
        int shift = self->shift - 1;
        size_t count = (size_t)1 << (64 - shift);
        uint64_t *slots = PyMem_Calloc(count, sizeof(uint64_t));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyMem_Free(self->slots);
        self->slots = slots;
        self->shift = shift;
        for (Py_ssize_t e = 0; e < self->used; e++) {
            sumtable_place(self, e);
        }
    }
    return 0;
}

static inline int
is_ascii_str(PyObject *key)
{
    return PyUnicode_CheckExact(key) && PyUnicode_IS_COMPACT_ASCII(key);
}

/* The entry of `key`, whose hash is `hash`: its number; -1 when it has none; -2 with an
 * error set (from a key's ==). */
static Py_ssize_t
sumtable_find(SumTableObject *self, PyObject *key, Py_hash_t hash)
{
    const uint32_t tag = hash_tag(hash);
    const size_t mask = slot_count(self) - 1;
    const int ascii = is_ascii_str(key);
    const Py_ssize_t size = ascii ? PyUnicode_GET_LENGTH(key) : 0;
    const char *text = ascii ? (const char *)PyUnicode_DATA(key) : NULL;
    for (size_t i = home_slot(self, hash);; i = (i + 1) & mask) {
        self->probes++;
        uint64_t slot = self->slots[i];
        if (slot == 0) {
            return -1;
        }
        if ((uint32_t)(slot >> 32) != tag) {
            continue;
        }
        Py_ssize_t e = (Py_ssize_t)(slot & 0xffffffffu) - 1;
        SumEntry *entry = &self->entries[e];
        if (entry->key == key) {
            return e;
        }
        if (entry->hash != hash) {
            continue;
        }
        if (ascii && entry->size != NOT_INLINE) { /* two ASCII strs: equal characters */
            if (entry->size == size && memcmp(entry->text, text, size) == 0) {
                return e;
            }
            continue;
        }
        /* As a dict: stored == key. The table is busy, so Python run by == cannot change
         * it: the index and this entry stay where they are. */
        PyObject *stored = Py_NewRef(entry->key);
        int eq = PyObject_RichCompareBool(stored, key, Py_EQ);
        Py_DECREF(stored);
        if (eq < 0) {
            return -2;
        }
        if (eq) {
            return e;
        }
    }
}

/* `acc + value` as the Python twin adds them; a TypeError names the key. */
static PyObject *
sumtable_plus(PyObject *acc, PyObject *key, PyObject *value)
{
    PyObject *sum = PyNumber_Add(acc, value);
    if (sum == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
        say_sum_failed(key, value);
    }
    return sum;
}

/* A new key's entry, its sum `0 + value`: the count `v` when `fits`, else the object `0 +
 * value` (as the twin's `get(key, 0) + value`: an error there makes no key). */
static int
sumtable_insert(SumTableObject *self, PyObject *key, Py_hash_t hash, PyObject *value,
                long long v, int fits)
{
    PyObject *obj = NULL;
    if (!fits) {
        PyObject *zero = PyLong_FromLong(0);
        if (zero == NULL) {
            return -1;
        }
        obj = sumtable_plus(zero, key, value);
        Py_DECREF(zero);
        if (obj == NULL) {
            return -1;
        }
    }
    if (sumtable_make_room(self) < 0) {
        Py_XDECREF(obj);
        return -1;
    }
    Py_ssize_t e = self->used++;
    SumEntry *entry = &self->entries[e];
    entry->hash = hash;
    entry->key = Py_NewRef(key);
    entry->obj = obj;
    entry->count = v;
    entry->size = NOT_INLINE;
    if (is_ascii_str(key) && PyUnicode_GET_LENGTH(key) <= INLINE_MAX) {
        entry->size = (unsigned char)PyUnicode_GET_LENGTH(key);
        memcpy(entry->text, PyUnicode_DATA(key), entry->size);
    }
    sumtable_place(self, e); /* the index may have grown since the key was looked for */
    return 0;
}

/* Fold one pair in; 0, or -1 with an error set and the table as it was. */
static int
sumtable_add(void *target, PyObject *key, PyObject *value)
{
    SumTableObject *self = target;
    long long v = 0;
    int fits = 0;
    if (PyLong_CheckExact(value)) {
        int overflow;
        v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        fits = !overflow;
    }
    Py_hash_t hash = PyUnicode_CheckExact(key) ? ((PyASCIIObject *)key)->hash : -1;
    if (hash == -1) {
        hash = PyObject_Hash(key);
        if (hash == -1) {
            return -1;
        }
    }
    Py_ssize_t e = sumtable_find(self, key, hash);
    if (e == -2) {
        return -1;
    }
    if (e == -1) {
        return sumtable_insert(self, key, hash, value, v, fits);
    }
    SumEntry *entry = &self->entries[e];
    PyObject *acc = entry->obj;
    if (acc == NULL) {
        long long sum;
        if (fits && !__builtin_add_overflow(entry->count, v, &sum)) {
            entry->count = sum;
            return 0;
        }
        PyObject *count = PyLong_FromLongLong(entry->count);
        if (count == NULL) {
            return -1;
        }
        PyObject *total = sumtable_plus(count, key, value);
        Py_DECREF(count);
        if (total == NULL) {
            return -1;
        }
        self->entries[e].obj = total;
        return 0;
    }
    PyObject *total = sumtable_plus(acc, key, value);
    if (total == NULL) {
        return -1;
    }
    self->entries[e].obj = total;
    Py_DECREF(acc);
    return 0;
}

static PyObject *
sumtable_fold(SumTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "fold(pairs: iterator, limit: int)");
        return NULL;
    }
    PyObject *pairs = args[0];
    if (!PyIter_Check(pairs)) {
        PyErr_SetString(PyExc_TypeError, "fold(pairs: iterator, limit: int): pairs must be an iterator");
        return NULL;
    }
    if (sumtable_enter(self) < 0) {
        return NULL;
    }
    /* As the Python twin: operator.index(limit), then 0 <= limit <= sys.maxsize. */
    PyObject *whole = PyNumber_Index(args[1]);
    if (whole == NULL) {
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(whole);
    Py_DECREF(whole);
    if (limit == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
    }
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "limit must be from 0 to sys.maxsize");
        return NULL;
    }
    self->busy = 1;
    PyObject *n = each_pair(pairs, limit, sumtable_add, self);
    self->busy = 0;
    return n;
}

/* The (key, sum) pairs. Its allocations may run a finalizer (the collector): the table is
 * busy meanwhile, so nothing folds into it or clears it while its entries are walked. */
static PyObject *
sumtable_pairs(SumTableObject *self)
{
    PyObject *out = PyList_New(self->used);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->used; i++) {
        SumEntry *entry = &self->entries[i];
        PyObject *sum = entry->obj != NULL ? Py_NewRef(entry->obj)
                                           : PyLong_FromLongLong(entry->count);
        PyObject *pair = sum == NULL ? NULL : PyTuple_Pack(2, entry->key, sum);
        Py_XDECREF(sum);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    return out;
}

static PyObject *
sumtable_items(SumTableObject *self, PyObject *Py_UNUSED(ignored))
{
    int was = self->busy;
    self->busy = 1;
    PyObject *out = sumtable_pairs(self);
    self->busy = was;
    return out;
}

static PyObject *
sumtable_clear_method(SumTableObject *self, PyObject *Py_UNUSED(ignored))
{
    if (sumtable_enter(self) < 0) {
        return NULL;
    }
    self->busy = 1; /* dropping sums and keys may run their __del__ */
    sumtable_clear(self);
    self->busy = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t
sumtable_len(SumTableObject *self)
{
    return self->used;
}

static PyMethodDef sumtable_methods[] = {
    {"fold", (PyCFunction)(void (*)(void))sumtable_fold, METH_FASTCALL,
     "fold(pairs, limit) -> pairs consumed: each value added to its key's sum"},
    {"items", (PyCFunction)sumtable_items, METH_NOARGS,
     "items() -> [(key, sum)], keys in the order they first came"},
    {"clear", (PyCFunction)sumtable_clear_method, METH_NOARGS, "clear(): no keys"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef sumtable_members[] = {
    {"probes", T_ULONGLONG, offsetof(SumTableObject, probes), READONLY,
     "index slots read by lookups so far (one or two a key, unless keys crowd together)"},
    {NULL},
};

static PyMappingMethods sumtable_as_mapping = {
    .mp_length = (lenfunc)sumtable_len,
};

static PyTypeObject SumTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mapreduce._collect.SumTable",
    .tp_basicsize = sizeof(SumTableObject),
    .tp_dealloc = (destructor)sumtable_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "SumTable(): mapreduce.sum's running sum per key (fold, items, clear, len).",
    .tp_traverse = (traverseproc)sumtable_traverse,
    .tp_clear = (inquiry)sumtable_clear,
    .tp_as_mapping = &sumtable_as_mapping,
    .tp_methods = sumtable_methods,
    .tp_members = sumtable_members,
    .tp_new = sumtable_new,
};

static PyMethodDef methods[] = {
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
    if (PyType_Ready(&TallyType) < 0 || PyType_Ready(&SumTableType) < 0) {
        return NULL;
    }
    PyObject *os = PyImport_ImportModule("os");
    PyObject *secret = os == NULL ? NULL : PyObject_CallMethod(os, "urandom", "i", 8);
    Py_XDECREF(os);
    if (secret == NULL || !PyBytes_Check(secret) || PyBytes_GET_SIZE(secret) != 8) {
        Py_XDECREF(secret);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "os.urandom(8) gave no 8 bytes");
        }
        return NULL;
    }
    memcpy(&hash_seed, PyBytes_AS_STRING(secret), sizeof hash_seed);
    Py_DECREF(secret);
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Tally", (PyObject *)&TallyType) < 0 ||
        PyModule_AddObjectRef(m, "SumTable", (PyObject *)&SumTableType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
