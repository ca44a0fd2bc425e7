#include "nnkit/io/png.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstring>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit {

namespace {

// libpng reports errors through a longjmp by default; these turn them into a message that the
// caller throws once the png structs are destroyed.
struct PngError {
  std::string message;
};
void on_png_error(png_structp png, png_const_charp message) {
  static_cast<PngError*>(png_get_error_ptr(png))->message = message;
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

void append_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), length);
}
void flush_nothing(png_structp) {}

struct Reader {
  const std::string* bytes;
  std::size_t offset;
};
void read_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* reader = static_cast<Reader*>(png_get_io_ptr(png));
  if (reader->offset + length > reader->bytes->size()) png_error(png, "the file is truncated");
  std::memcpy(data, reader->bytes->data() + reader->offset, length);
  reader->offset += length;
}

}  // namespace

void write_png(const std::string& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0) {
    throw ValueError(
        fmt::format("write_png {}: the image is empty ({}x{})", path, image.width, image.height));
  }
  if (image.channels != 1 && image.channels != 3) {
    throw ValueError(fmt::format("write_png {}: {} channels; 1 (grey) or 3 (RGB) expected", path,
                                 image.channels));
  }
  if (static_cast<int64_t>(image.pixels.size()) != image.width * image.height * image.channels) {
    throw ValueError(fmt::format("write_png {}: {} pixel bytes for a {}x{}x{} image", path,
                                 image.pixels.size(), image.width, image.height, image.channels));
  }
  std::string bytes;
  PngError error;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_write_struct(&png, &info);
    throw IoError(fmt::format("write_png {}: libpng could not start", path));
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    throw IoError(fmt::format("write_png {}: {}", path, error.message));
  }
  png_set_write_fn(png, &bytes, append_bytes, flush_nothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const std::size_t stride = static_cast<std::size_t>(image.width * image.channels);
  for (int64_t y = 0; y < image.height; ++y) {
    png_write_row(
        png, const_cast<png_bytep>(image.pixels.data() + static_cast<std::size_t>(y) * stride));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  write_file_atomically(path, bytes);
}

Image read_png(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0) {
    throw FormatError(fmt::format("{}: not a PNG file", path));
  }
  PngError error;
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw IoError(fmt::format("{}: libpng could not start", path));
  }
  Image image;
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FormatError(fmt::format("{}: {}", path, error.message));
  }
  Reader reader{&bytes, 0};
  png_set_read_fn(png, &reader, read_bytes);
  png_read_info(png, info);
  // Everything to 8-bit grey or RGB.
  png_set_strip_16(png);
  png_set_packing(png);
  png_set_strip_alpha(png);
  const png_byte color = png_get_color_type(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  png_read_update_info(png, info);
  image.width = png_get_image_width(png, info);
  image.height = png_get_image_height(png, info);
  image.channels = png_get_channels(png, info);
  if (image.width * image.height > (int64_t{1} << 28)) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FormatError(
        fmt::format("{}: {}x{} pixels is too large", path, image.width, image.height));
  }
  image.pixels.resize(static_cast<std::size_t>(image.width * image.height * image.channels));
  const std::size_t stride = static_cast<std::size_t>(image.width * image.channels);
  for (int64_t y = 0; y < image.height; ++y) {
    png_read_row(png, image.pixels.data() + static_cast<std::size_t>(y) * stride, nullptr);
  }
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

Image image_grid(const Tensor& images, int64_t columns, float lo, float hi, int64_t gap,
                 int64_t scale) {
  const Shape& s = images.shape();
  const bool nchw = s.size() == 4 && s[1] == 1;
  if (!(s.size() == 3 || nchw) || images.size() == 0) {
    throw ValueError(fmt::format("image_grid: images must be [N, H, W] or [N, 1, H, W], got {}",
                                 shape_to_string(s)));
  }
  if (!(lo < hi)) throw ValueError(fmt::format("image_grid: lo {} must be below hi {}", lo, hi));
  if (columns < 1 || gap < 0 || scale < 1) {
    throw ValueError("image_grid: columns and scale must be >= 1, gap >= 0");
  }
  const int64_t n = s[0], h = s[s.size() - 2], w = s[s.size() - 1];
  columns = std::min(columns, n);
  const int64_t rows = (n + columns - 1) / columns;
  const int64_t cell_w = w * scale + gap, cell_h = h * scale + gap;
  Image grid;
  grid.width = columns * cell_w + gap;
  grid.height = rows * cell_h + gap;
  grid.pixels.assign(static_cast<std::size_t>(grid.width * grid.height), 255);
  for (int64_t i = 0; i < n; ++i) {
    const float* src = images.data() + i * h * w;
    const int64_t x0 = gap + (i % columns) * cell_w, y0 = gap + (i / columns) * cell_h;
    for (int64_t y = 0; y < h * scale; ++y) {
      for (int64_t x = 0; x < w * scale; ++x) {
        float v = (src[(y / scale) * w + x / scale] - lo) / (hi - lo);
        v = std::isfinite(v) ? std::clamp(v, 0.0f, 1.0f) : 0.0f;
        grid.pixels[static_cast<std::size_t>((y0 + y) * grid.width + x0 + x)] =
            static_cast<uint8_t>(std::lround(v * 255.0f));
      }
    }
  }
  return grid;
}

}  // namespace nnkit
