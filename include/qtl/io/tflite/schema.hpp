#pragma once
// The part of the TFLite flatbuffer schema qtl reads: enum values and the
// field ids of every table, as published in TFLite's schema.fbs (LiteRT's
// tflite/converter/schema/schema.fbs, identifier "TFL3", schema version 3).
//
// Values here are the file format; they never change once published (new
// members are only appended).  A field id is the position of the field in
// its table declaration (a union takes two ids: its type, then its value);
// its vtable slot is flatbuffers::FieldIndexToOffset(id).

#include <cstdint>
#include <string>
#include <string_view>

namespace qtl::tflite {

// The schema version this reader understands (Model.version).
inline constexpr std::uint32_t schema_version = 3;
// The flatbuffer file identifier at bytes 4..7 of every .tflite file.
inline constexpr std::string_view file_identifier = "TFL3";

// ---- enums ------------------------------------------------------------------

#define QTL_TFLITE_TENSOR_TYPES(X)                                                            \
    X(FLOAT32, 0) X(FLOAT16, 1) X(INT32, 2) X(UINT8, 3) X(INT64, 4) X(STRING, 5) X(BOOL, 6)  \
    X(INT16, 7) X(COMPLEX64, 8) X(INT8, 9) X(FLOAT64, 10) X(COMPLEX128, 11) X(UINT64, 12)    \
    X(RESOURCE, 13) X(VARIANT, 14) X(UINT32, 15) X(UINT16, 16) X(INT4, 17) X(BFLOAT16, 18)   \
    X(INT2, 19) X(UINT4, 20) X(FLOAT8_E4M3FN, 21) X(FLOAT8_E5M2, 22)

#define QTL_TFLITE_BUILTIN_OPERATORS(X)                                                        \
    X(ADD, 0) X(AVERAGE_POOL_2D, 1) X(CONCATENATION, 2) X(CONV_2D, 3) X(DEPTHWISE_CONV_2D, 4)  \
    X(DEPTH_TO_SPACE, 5) X(DEQUANTIZE, 6) X(EMBEDDING_LOOKUP, 7) X(FLOOR, 8)                   \
    X(FULLY_CONNECTED, 9) X(HASHTABLE_LOOKUP, 10) X(L2_NORMALIZATION, 11) X(L2_POOL_2D, 12)    \
    X(LOCAL_RESPONSE_NORMALIZATION, 13) X(LOGISTIC, 14) X(LSH_PROJECTION, 15) X(LSTM, 16)      \
    X(MAX_POOL_2D, 17) X(MUL, 18) X(RELU, 19) X(RELU_N1_TO_1, 20) X(RELU6, 21) X(RESHAPE, 22)  \
    X(RESIZE_BILINEAR, 23) X(RNN, 24) X(SOFTMAX, 25) X(SPACE_TO_DEPTH, 26) X(SVDF, 27)         \
    X(TANH, 28) X(CONCAT_EMBEDDINGS, 29) X(SKIP_GRAM, 30) X(CALL, 31) X(CUSTOM, 32)            \
    X(EMBEDDING_LOOKUP_SPARSE, 33) X(PAD, 34) X(UNIDIRECTIONAL_SEQUENCE_RNN, 35) X(GATHER, 36) \
    X(BATCH_TO_SPACE_ND, 37) X(SPACE_TO_BATCH_ND, 38) X(TRANSPOSE, 39) X(MEAN, 40) X(SUB, 41)  \
    X(DIV, 42) X(SQUEEZE, 43) X(UNIDIRECTIONAL_SEQUENCE_LSTM, 44) X(STRIDED_SLICE, 45)         \
    X(BIDIRECTIONAL_SEQUENCE_RNN, 46) X(EXP, 47) X(TOPK_V2, 48) X(SPLIT, 49)                   \
    X(LOG_SOFTMAX, 50) X(DELEGATE, 51) X(BIDIRECTIONAL_SEQUENCE_LSTM, 52) X(CAST, 53)          \
    X(PRELU, 54) X(MAXIMUM, 55) X(ARG_MAX, 56) X(MINIMUM, 57) X(LESS, 58) X(NEG, 59)           \
    X(PADV2, 60) X(GREATER, 61) X(GREATER_EQUAL, 62) X(LESS_EQUAL, 63) X(SELECT, 64)           \
    X(SLICE, 65) X(SIN, 66) X(TRANSPOSE_CONV, 67) X(SPARSE_TO_DENSE, 68) X(TILE, 69)           \
    X(EXPAND_DIMS, 70) X(EQUAL, 71) X(NOT_EQUAL, 72) X(LOG, 73) X(SUM, 74) X(SQRT, 75)         \
    X(RSQRT, 76) X(SHAPE, 77) X(POW, 78) X(ARG_MIN, 79) X(FAKE_QUANT, 80) X(REDUCE_PROD, 81)   \
    X(REDUCE_MAX, 82) X(PACK, 83) X(LOGICAL_OR, 84) X(ONE_HOT, 85) X(LOGICAL_AND, 86)          \
    X(LOGICAL_NOT, 87) X(UNPACK, 88) X(REDUCE_MIN, 89) X(FLOOR_DIV, 90) X(REDUCE_ANY, 91)      \
    X(SQUARE, 92) X(ZEROS_LIKE, 93) X(FILL, 94) X(FLOOR_MOD, 95) X(RANGE, 96)                  \
    X(RESIZE_NEAREST_NEIGHBOR, 97) X(LEAKY_RELU, 98) X(SQUARED_DIFFERENCE, 99)                 \
    X(MIRROR_PAD, 100) X(ABS, 101) X(SPLIT_V, 102) X(UNIQUE, 103) X(CEIL, 104)                 \
    X(REVERSE_V2, 105) X(ADD_N, 106) X(GATHER_ND, 107) X(COS, 108) X(WHERE, 109) X(RANK, 110)  \
    X(ELU, 111) X(REVERSE_SEQUENCE, 112) X(MATRIX_DIAG, 113) X(QUANTIZE, 114)                  \
    X(MATRIX_SET_DIAG, 115) X(ROUND, 116) X(HARD_SWISH, 117) X(IF, 118) X(WHILE, 119)          \
    X(NON_MAX_SUPPRESSION_V4, 120) X(NON_MAX_SUPPRESSION_V5, 121) X(SCATTER_ND, 122)           \
    X(SELECT_V2, 123) X(DENSIFY, 124) X(SEGMENT_SUM, 125) X(BATCH_MATMUL, 126)                 \
    X(PLACEHOLDER_FOR_GREATER_OP_CODES, 127) X(CUMSUM, 128) X(CALL_ONCE, 129)                  \
    X(BROADCAST_TO, 130) X(RFFT2D, 131) X(CONV_3D, 132) X(IMAG, 133) X(REAL, 134)              \
    X(COMPLEX_ABS, 135) X(HASHTABLE, 136) X(HASHTABLE_FIND, 137) X(HASHTABLE_IMPORT, 138)      \
    X(HASHTABLE_SIZE, 139) X(REDUCE_ALL, 140) X(CONV_3D_TRANSPOSE, 141) X(VAR_HANDLE, 142)     \
    X(READ_VARIABLE, 143) X(ASSIGN_VARIABLE, 144) X(BROADCAST_ARGS, 145)                       \
    X(RANDOM_STANDARD_NORMAL, 146) X(BUCKETIZE, 147) X(RANDOM_UNIFORM, 148)                    \
    X(MULTINOMIAL, 149) X(GELU, 150) X(DYNAMIC_UPDATE_SLICE, 151) X(RELU_0_TO_1, 152)          \
    X(UNSORTED_SEGMENT_PROD, 153) X(UNSORTED_SEGMENT_MAX, 154) X(UNSORTED_SEGMENT_SUM, 155)    \
    X(ATAN2, 156) X(UNSORTED_SEGMENT_MIN, 157) X(SIGN, 158) X(BITCAST, 159)                    \
    X(BITWISE_XOR, 160) X(RIGHT_SHIFT, 161) X(STABLEHLO_LOGISTIC, 162) X(STABLEHLO_ADD, 163)   \
    X(STABLEHLO_DIVIDE, 164) X(STABLEHLO_MULTIPLY, 165) X(STABLEHLO_MAXIMUM, 166)              \
    X(STABLEHLO_RESHAPE, 167) X(STABLEHLO_CLAMP, 168) X(STABLEHLO_CONCATENATE, 169)            \
    X(STABLEHLO_BROADCAST_IN_DIM, 170) X(STABLEHLO_CONVOLUTION, 171) X(STABLEHLO_SLICE, 172)   \
    X(STABLEHLO_CUSTOM_CALL, 173) X(STABLEHLO_REDUCE, 174) X(STABLEHLO_ABS, 175)               \
    X(STABLEHLO_AND, 176) X(STABLEHLO_COSINE, 177) X(STABLEHLO_EXPONENTIAL, 178)               \
    X(STABLEHLO_FLOOR, 179) X(STABLEHLO_LOG, 180) X(STABLEHLO_MINIMUM, 181)                    \
    X(STABLEHLO_NEGATE, 182) X(STABLEHLO_OR, 183) X(STABLEHLO_POWER, 184)                      \
    X(STABLEHLO_REMAINDER, 185) X(STABLEHLO_RSQRT, 186) X(STABLEHLO_SELECT, 187)               \
    X(STABLEHLO_SUBTRACT, 188) X(STABLEHLO_TANH, 189) X(STABLEHLO_SCATTER, 190)                \
    X(STABLEHLO_COMPARE, 191) X(STABLEHLO_CONVERT, 192) X(STABLEHLO_DYNAMIC_SLICE, 193)        \
    X(STABLEHLO_DYNAMIC_UPDATE_SLICE, 194) X(STABLEHLO_PAD, 195) X(STABLEHLO_IOTA, 196)        \
    X(STABLEHLO_DOT_GENERAL, 197) X(STABLEHLO_REDUCE_WINDOW, 198) X(STABLEHLO_SORT, 199)       \
    X(STABLEHLO_WHILE, 200) X(STABLEHLO_GATHER, 201) X(STABLEHLO_TRANSPOSE, 202)               \
    X(DILATE, 203) X(STABLEHLO_RNG_BIT_GENERATOR, 204) X(REDUCE_WINDOW, 205)                   \
    X(STABLEHLO_COMPOSITE, 206) X(STABLEHLO_SHIFT_LEFT, 207) X(STABLEHLO_CBRT, 208)            \
    X(STABLEHLO_CASE, 209)

// The BuiltinOptions union: the value of Operator.builtin_options_type.
#define QTL_TFLITE_BUILTIN_OPTIONS(X)                                                          \
    X(NONE, 0) X(Conv2DOptions, 1) X(DepthwiseConv2DOptions, 2)                                \
    X(ConcatEmbeddingsOptions, 3) X(LSHProjectionOptions, 4) X(Pool2DOptions, 5)               \
    X(SVDFOptions, 6) X(RNNOptions, 7) X(FullyConnectedOptions, 8) X(SoftmaxOptions, 9)        \
    X(ConcatenationOptions, 10) X(AddOptions, 11) X(L2NormOptions, 12)                         \
    X(LocalResponseNormalizationOptions, 13) X(LSTMOptions, 14) X(ResizeBilinearOptions, 15)   \
    X(CallOptions, 16) X(ReshapeOptions, 17) X(SkipGramOptions, 18)                            \
    X(SpaceToDepthOptions, 19) X(EmbeddingLookupSparseOptions, 20) X(MulOptions, 21)           \
    X(PadOptions, 22) X(GatherOptions, 23) X(BatchToSpaceNDOptions, 24)                        \
    X(SpaceToBatchNDOptions, 25) X(TransposeOptions, 26) X(ReducerOptions, 27)                 \
    X(SubOptions, 28) X(DivOptions, 29) X(SqueezeOptions, 30) X(SequenceRNNOptions, 31)        \
    X(StridedSliceOptions, 32) X(ExpOptions, 33) X(TopKV2Options, 34) X(SplitOptions, 35)      \
    X(LogSoftmaxOptions, 36) X(CastOptions, 37) X(DequantizeOptions, 38)                       \
    X(MaximumMinimumOptions, 39) X(ArgMaxOptions, 40) X(LessOptions, 41) X(NegOptions, 42)     \
    X(PadV2Options, 43) X(GreaterOptions, 44) X(GreaterEqualOptions, 45)                       \
    X(LessEqualOptions, 46) X(SelectOptions, 47) X(SliceOptions, 48)                           \
    X(TransposeConvOptions, 49) X(SparseToDenseOptions, 50) X(TileOptions, 51)                 \
    X(ExpandDimsOptions, 52) X(EqualOptions, 53) X(NotEqualOptions, 54) X(ShapeOptions, 55)    \
    X(PowOptions, 56) X(ArgMinOptions, 57) X(FakeQuantOptions, 58) X(PackOptions, 59)          \
    X(LogicalOrOptions, 60) X(OneHotOptions, 61) X(LogicalAndOptions, 62)                      \
    X(LogicalNotOptions, 63) X(UnpackOptions, 64) X(FloorDivOptions, 65) X(SquareOptions, 66)  \
    X(ZerosLikeOptions, 67) X(FillOptions, 68) X(BidirectionalSequenceLSTMOptions, 69)         \
    X(BidirectionalSequenceRNNOptions, 70) X(UnidirectionalSequenceLSTMOptions, 71)            \
    X(FloorModOptions, 72) X(RangeOptions, 73) X(ResizeNearestNeighborOptions, 74)             \
    X(LeakyReluOptions, 75) X(SquaredDifferenceOptions, 76) X(MirrorPadOptions, 77)            \
    X(AbsOptions, 78) X(SplitVOptions, 79) X(UniqueOptions, 80) X(ReverseV2Options, 81)        \
    X(AddNOptions, 82) X(GatherNdOptions, 83) X(CosOptions, 84) X(WhereOptions, 85)            \
    X(RankOptions, 86) X(ReverseSequenceOptions, 87) X(MatrixDiagOptions, 88)                  \
    X(QuantizeOptions, 89) X(MatrixSetDiagOptions, 90) X(HardSwishOptions, 91)                 \
    X(IfOptions, 92) X(WhileOptions, 93) X(DepthToSpaceOptions, 94)                            \
    X(NonMaxSuppressionV4Options, 95) X(NonMaxSuppressionV5Options, 96)                        \
    X(ScatterNdOptions, 97) X(SelectV2Options, 98) X(DensifyOptions, 99)                       \
    X(SegmentSumOptions, 100) X(BatchMatMulOptions, 101) X(CumsumOptions, 102)                 \
    X(CallOnceOptions, 103) X(BroadcastToOptions, 104) X(Rfft2dOptions, 105)                   \
    X(Conv3DOptions, 106) X(HashtableOptions, 107) X(HashtableFindOptions, 108)                \
    X(HashtableImportOptions, 109) X(HashtableSizeOptions, 110) X(VarHandleOptions, 111)       \
    X(ReadVariableOptions, 112) X(AssignVariableOptions, 113) X(RandomOptions, 114)            \
    X(BucketizeOptions, 115) X(GeluOptions, 116) X(DynamicUpdateSliceOptions, 117)             \
    X(UnsortedSegmentProdOptions, 118) X(UnsortedSegmentMaxOptions, 119)                       \
    X(UnsortedSegmentMinOptions, 120) X(UnsortedSegmentSumOptions, 121) X(ATan2Options, 122)   \
    X(SignOptions, 123) X(BitcastOptions, 124) X(BitwiseXorOptions, 125)                       \
    X(RightShiftOptions, 126)

#define QTL_TFLITE_ENUMERATOR(name, value) name = value,
#define QTL_TFLITE_NAME_CASE(name, value) \
    case value: return #name;

// TensorType (a byte in the file).
enum class tensor_type : std::int8_t { QTL_TFLITE_TENSOR_TYPES(QTL_TFLITE_ENUMERATOR) };

// BuiltinOperator (int32 in OperatorCode.builtin_code, a byte in the older
// OperatorCode.deprecated_builtin_code).
enum class builtin_operator : std::int32_t { QTL_TFLITE_BUILTIN_OPERATORS(QTL_TFLITE_ENUMERATOR) };

// BuiltinOptions union type (a ubyte in the file).
enum class builtin_options_type : std::uint8_t { QTL_TFLITE_BUILTIN_OPTIONS(QTL_TFLITE_ENUMERATOR) };

// The schema name of a type, operator or options table; empty when the
// value is not in the schema.
constexpr std::string_view name_of(tensor_type t) noexcept {
    switch (static_cast<int>(t)) { QTL_TFLITE_TENSOR_TYPES(QTL_TFLITE_NAME_CASE) }
    return {};
}
constexpr std::string_view name_of(builtin_operator op) noexcept {
    switch (static_cast<std::int32_t>(op)) { QTL_TFLITE_BUILTIN_OPERATORS(QTL_TFLITE_NAME_CASE) }
    return {};
}
constexpr std::string_view name_of(builtin_options_type t) noexcept {
    switch (static_cast<int>(t)) { QTL_TFLITE_BUILTIN_OPTIONS(QTL_TFLITE_NAME_CASE) }
    return {};
}

#undef QTL_TFLITE_NAME_CASE
#undef QTL_TFLITE_ENUMERATOR
#undef QTL_TFLITE_BUILTIN_OPTIONS
#undef QTL_TFLITE_BUILTIN_OPERATORS
#undef QTL_TFLITE_TENSOR_TYPES

// The name for messages: the schema name, or the number when the file holds
// a value the schema does not define ("builtin operator 250").
inline std::string describe(tensor_type t) {
    const auto n = name_of(t);
    return n.empty() ? "tensor type " + std::to_string(static_cast<int>(t)) : std::string(n);
}
inline std::string describe(builtin_operator op) {
    const auto n = name_of(op);
    return n.empty() ? "builtin operator " + std::to_string(static_cast<std::int32_t>(op)) : std::string(n);
}
inline std::string describe(builtin_options_type t) {
    const auto n = name_of(t);
    return n.empty() ? "builtin options type " + std::to_string(static_cast<int>(t)) : std::string(n);
}

// QuantizationDetails union type (QuantizationParameters.details_type).
enum class quantization_details_type : std::uint8_t {
    NONE = 0,
    CustomQuantization = 1,
    BlockwiseQuantization = 2,
    MultiAxisQuantization = 3,
};

enum class padding : std::int8_t { SAME = 0, VALID = 1 };

enum class activation_function_type : std::int8_t {
    NONE = 0,
    RELU = 1,
    RELU_N1_TO_1 = 2,
    RELU6 = 3,
    TANH = 4,
    SIGN_BIT = 5,
};

enum class fully_connected_options_weights_format : std::int8_t {
    DEFAULT = 0,
    SHUFFLED4x16INT8 = 1,
};

constexpr std::string_view name_of(padding p) noexcept {
    switch (p) {
        case padding::SAME: return "SAME";
        case padding::VALID: return "VALID";
    }
    return {};
}
constexpr std::string_view name_of(activation_function_type a) noexcept {
    switch (a) {
        case activation_function_type::NONE: return "NONE";
        case activation_function_type::RELU: return "RELU";
        case activation_function_type::RELU_N1_TO_1: return "RELU_N1_TO_1";
        case activation_function_type::RELU6: return "RELU6";
        case activation_function_type::TANH: return "TANH";
        case activation_function_type::SIGN_BIT: return "SIGN_BIT";
    }
    return {};
}
constexpr std::string_view name_of(quantization_details_type t) noexcept {
    switch (t) {
        case quantization_details_type::NONE: return "NONE";
        case quantization_details_type::CustomQuantization: return "CustomQuantization";
        case quantization_details_type::BlockwiseQuantization: return "BlockwiseQuantization";
        case quantization_details_type::MultiAxisQuantization: return "MultiAxisQuantization";
    }
    return {};
}

// ---- field ids, per table (declaration order in schema.fbs) -----------------

namespace field {

namespace model {
inline constexpr int version = 0, operator_codes = 1, subgraphs = 2, description = 3, buffers = 4,
                     metadata_buffer = 5, metadata = 6, signature_defs = 7;
}
namespace operator_code {
inline constexpr int deprecated_builtin_code = 0, custom_code = 1, version = 2, builtin_code = 3;
inline constexpr std::int32_t default_version = 1;
}
namespace subgraph {
inline constexpr int tensors = 0, inputs = 1, outputs = 2, operators = 3, name = 4;
}
namespace tensor {
inline constexpr int shape = 0, type = 1, buffer = 2, name = 3, quantization = 4, is_variable = 5,
                     sparsity = 6, shape_signature = 7, has_rank = 8, variant_tensors = 9,
                     external_buffer = 10;
}
namespace quantization_parameters {
inline constexpr int min = 0, max = 1, scale = 2, zero_point = 3, details_type = 4, details = 5,
                     quantized_dimension = 6;
}
namespace custom_quantization {
inline constexpr int custom = 0;
}
namespace blockwise_quantization {
inline constexpr int scales = 0, zero_points = 1, block_size = 2;
}
namespace multi_axis_quantization {
inline constexpr int scales = 0, zero_points = 1, block_size = 2, quantized_dimensions = 3;
}
namespace operator_ {
inline constexpr int opcode_index = 0, inputs = 1, outputs = 2, builtin_options_type = 3,
                     builtin_options = 4, custom_options = 5, custom_options_format = 6,
                     mutating_variable_inputs = 7, intermediates = 8,
                     large_custom_options_offset = 9, large_custom_options_size = 10,
                     builtin_options_2_type = 11, builtin_options_2 = 12;
}
namespace buffer {
inline constexpr int data = 0, offset = 1, size = 2;
}
namespace metadata {
inline constexpr int name = 0, buffer = 1;
}
namespace tensor_map {
inline constexpr int name = 0, tensor_index = 1;
}
namespace signature_def {
// id 3 is the deprecated `deprecated_tag` string; it still takes its slot.
inline constexpr int inputs = 0, outputs = 1, signature_key = 2, subgraph_index = 4;
}

// Builtin options tables of the ops qtl runs.
namespace conv_2d_options {
inline constexpr int padding = 0, stride_w = 1, stride_h = 2, fused_activation_function = 3,
                     dilation_w_factor = 4, dilation_h_factor = 5, quantized_bias_type = 6;
}
namespace depthwise_conv_2d_options {
inline constexpr int padding = 0, stride_w = 1, stride_h = 2, depth_multiplier = 3,
                     fused_activation_function = 4, dilation_w_factor = 5, dilation_h_factor = 6;
}
namespace pool_2d_options {
inline constexpr int padding = 0, stride_w = 1, stride_h = 2, filter_width = 3, filter_height = 4,
                     fused_activation_function = 5;
}
namespace fully_connected_options {
inline constexpr int fused_activation_function = 0, weights_format = 1, keep_num_dims = 2,
                     asymmetric_quantize_inputs = 3, quantized_bias_type = 4;
}
namespace softmax_options {
inline constexpr int beta = 0;
}
namespace concatenation_options {
inline constexpr int axis = 0, fused_activation_function = 1;
}
namespace add_options {  // SubOptions has the same two fields
inline constexpr int fused_activation_function = 0, pot_scale_int16 = 1;
}
namespace sub_options {
inline constexpr int fused_activation_function = 0, pot_scale_int16 = 1;
}
namespace mul_options {
inline constexpr int fused_activation_function = 0;
}
namespace reshape_options {
inline constexpr int new_shape = 0;
}
namespace reducer_options {
inline constexpr int keep_dims = 0;
}
namespace strided_slice_options {
inline constexpr int begin_mask = 0, end_mask = 1, ellipsis_mask = 2, new_axis_mask = 3,
                     shrink_axis_mask = 4, offset = 5;
}
namespace leaky_relu_options {
inline constexpr int alpha = 0;
}
// PadOptions, TransposeOptions, QuantizeOptions, DequantizeOptions and
// HardSwishOptions are empty tables.

}  // namespace field

}  // namespace qtl::tflite
