// expect: qtl::sequential: an image layer's input height, width and channels must equal the previous layer's output
#include "qtl/graph/sequential.hpp"
// Same element count (8 * 8 * 4 = 16 * 4 * 4), different image: layer 0
// produces 8x8x4 (SAME, stride 1) but layer 1 expects 16x4x4.
using broken = qtl::sequential<qtl::conv2d<8, 8, 1, 4, 3, 1, qtl::tflite::padding::SAME>,
                               qtl::conv2d<16, 4, 4, 2, 3>>;
broken net;
