/*
 * spate/spate.h - the umbrella header: includes every public header.
 */
#ifndef SPATE_SPATE_H
#define SPATE_SPATE_H

#include "spate/error.h"
#include "spate/engine.h"
#include "spate/schema.h"
#include "spate/batch.h"
#include "spate/context.h"
#include "spate/dstream.h"
#include "spate/io.h"

#endif /* SPATE_SPATE_H */
