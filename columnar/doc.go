// Package columnar holds the small set of helpers every path needs over
// Apache Arrow record batches, the one in-memory currency of mlship: the
// tensor column layout, zero-copy views of value buffers, and batch
// construction. It knows no wire format and no model format.
//
// # Tensor columns
//
// A tensor input or output is one column whose value buffer is a single
// contiguous array, so it can be handed to a runtime without a copy:
//
//   - batched (the first dimension is the row): rank 1 is a primitive
//     column; rank r > 1 nests r-1 FixedSizeList levels, one per inner
//     dimension, e.g. float32 [N,2,3] is FixedSizeList<FixedSizeList<float32,3>,2>;
//   - unbatched (a whole tensor whose first dimension is not the row, or a
//     0-d scalar): a column of length 1 holding the whole tensor as nested
//     FixedSizeLists (none for a scalar), marked with field metadata
//     MetaUnbatched = "true".
//
// TensorOf reads either form back as a shape plus the flat values array.
package columnar
