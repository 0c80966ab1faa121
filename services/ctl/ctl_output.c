/*  ctl_output — see ctl_output.h. */
#include "ctl_output.h"
#include "ff_utf8.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_t *
ctl_output_string (const char *text)
{
    json_t *value = json_string (text ? text : "");
    if (value)
        return value;
    //  Invalid UTF-8: each bad byte becomes '?' (each pass fixes one).
    char *copy = strdup (text);
    assert (copy);
    size_t size = strlen (copy);
    size_t bad;
    while ((bad = ff_utf8_check ((const uint8_t *) copy, size, false)) > 0)
        copy [bad - 1] = '?';
    value = json_string (copy);
    free (copy);
    assert (value);
    return value;
}

static json_t *
s_base64 (const ProtobufCBinaryData *data)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *text = (char *) malloc ((data->len + 2) / 3 * 4 + 1);
    assert (text);
    size_t out = 0;
    for (size_t i = 0; i < data->len; i += 3) {
        uint32_t chunk = (uint32_t) data->data [i] << 16;
        if (i + 1 < data->len)
            chunk |= (uint32_t) data->data [i + 1] << 8;
        if (i + 2 < data->len)
            chunk |= data->data [i + 2];
        text [out++] = alphabet [(chunk >> 18) & 63];
        text [out++] = alphabet [(chunk >> 12) & 63];
        text [out++] = i + 1 < data->len ? alphabet [(chunk >> 6) & 63] : '=';
        text [out++] = i + 2 < data->len ? alphabet [chunk & 63] : '=';
    }
    text [out] = '\0';
    json_t *value = json_string (text);
    free (text);
    return value;
}

static json_t *
s_unsigned (uint64_t number)
{
    if (number > (uint64_t) LLONG_MAX)
        return json_real ((double) number);
    return json_integer ((json_int_t) number);
}

static json_t *
s_double (double number)
{
    return isfinite (number) ? json_real (number) : json_null ();
}

//  One value of a field's type, read at address.
static json_t *
s_value (const ProtobufCFieldDescriptor *field, const void *address)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
            return json_integer (*(const int32_t *) address);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            return json_integer ((json_int_t) *(const int64_t *) address);
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            return json_integer (*(const uint32_t *) address);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            return s_unsigned (*(const uint64_t *) address);
        case PROTOBUF_C_TYPE_FLOAT:
            return s_double (*(const float *) address);
        case PROTOBUF_C_TYPE_DOUBLE:
            return s_double (*(const double *) address);
        case PROTOBUF_C_TYPE_BOOL:
            return json_boolean (*(const protobuf_c_boolean *) address);
        case PROTOBUF_C_TYPE_ENUM: {
            int number = *(const int *) address;
            const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (
                (const ProtobufCEnumDescriptor *) field->descriptor, number);
            return value ? json_string (value->name) : json_integer (number);
        }
        case PROTOBUF_C_TYPE_STRING:
            return ctl_output_string (*(char *const *) address);
        case PROTOBUF_C_TYPE_BYTES:
            return s_base64 ((const ProtobufCBinaryData *) address);
        case PROTOBUF_C_TYPE_MESSAGE:
            return ctl_output_json (*(const ProtobufCMessage *const *) address);
    }
    return json_null ();
}

//  Size in a repeated field's array of one element of the field's type.
static size_t
s_element_size (const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            return sizeof (uint64_t);
        case PROTOBUF_C_TYPE_DOUBLE:
            return sizeof (double);
        case PROTOBUF_C_TYPE_BOOL:
            return sizeof (protobuf_c_boolean);
        case PROTOBUF_C_TYPE_ENUM:
            return sizeof (int);
        case PROTOBUF_C_TYPE_STRING:
            return sizeof (char *);
        case PROTOBUF_C_TYPE_BYTES:
            return sizeof (ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_MESSAGE:
            return sizeof (ProtobufCMessage *);
        default:
            return sizeof (uint32_t);
    }
}

json_t *
ctl_output_json (const ProtobufCMessage *message)
{
    if (!message)
        return json_null ();
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    const char *base = (const char *) message;
    json_t *object = json_object ();
    assert (object);
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields [i];
        const void *address = base + field->offset;
        json_t *value = NULL;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *) (base + field->quantifier_offset);
            const char *items = *(const char *const *) address;
            value = json_array ();
            for (size_t n = 0; n < count; n++)
                json_array_append_new (value, s_value (field, items + n * s_element_size (field)));
        }
        else {
            //  Presence: a oneof member not chosen, or an explicit
            //  optional scalar not set, is left out (as protobuf does).
            if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *) (base + field->quantifier_offset) != field->id)
                    continue;
            }
            else
            if (field->label == PROTOBUF_C_LABEL_OPTIONAL
            &&  field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE
            &&  !*(const protobuf_c_boolean *) (base + field->quantifier_offset))
                continue;
            value = s_value (field, address);
        }
        assert (value);
        json_object_set_new (object, field->name, value);
    }
    return object;
}

int
ctl_output_json_line (FILE *out, const json_t *value)
{
    if (json_dumpf (value, out, JSON_COMPACT | JSON_ENCODE_ANY) != 0
    ||  fputc ('\n', out) == EOF || fflush (out) != 0)
        return -1;
    return 0;
}

int
ctl_output_write_file (const char *prefix, const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    if (!file) {
        fprintf (stderr, "%s: --out %s: %s\n", prefix, path, strerror (errno));
        return -1;
    }
    bool written = fwrite (data, 1, size, file) == size;
    int saved = errno;
    if (fclose (file) != 0 && written) {
        written = false;
        saved = errno;
    }
    if (!written) {
        fprintf (stderr, "%s: --out %s: %s\n", prefix, path, strerror (saved));
        unlink (path);
        return -1;
    }
    return 0;
}
