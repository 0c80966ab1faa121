#include "ff_test.h"
