// PNG images, through libpng: pictures of what a model does (reconstructions, generated
// samples) that any viewer opens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

// 8-bit pixels, row by row: channels 1 (grey) or 3 (RGB), interleaved.
struct Image {
  int64_t width = 0, height = 0, channels = 1;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// Writes through a temporary file renamed into place. Throws ValueError for an empty image, a
// channel count other than 1 or 3 or a pixel buffer of the wrong size; IoError naming `path`.
void write_png(const std::string& path, const Image& image);
// Reads an 8-bit grey or RGB PNG (others are converted to those). Throws IoError or FormatError
// naming `path`.
Image read_png(const std::string& path);

// Greyscale images side by side: `images` [N, H, W] or [N, 1, H, W] with values in [lo, hi]
// (clamped), `columns` to a row, a `gap`-pixel white border around each, each pixel drawn as a
// `scale` × `scale` square. Throws ValueError on other shapes or lo >= hi.
Image image_grid(const Tensor& images, int64_t columns, float lo = 0.0f, float hi = 1.0f,
                 int64_t gap = 2, int64_t scale = 1);

}  // namespace nnkit
