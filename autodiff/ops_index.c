#include "ad_internal.h"
