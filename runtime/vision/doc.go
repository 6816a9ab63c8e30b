// Package vision classifies images with rnnrun's image-classification models
// (metadata task "image-classification", such as models/export/mnist.onnx):
// it reads images (PNG, JPEG, GIF, MNIST idx files, JSON pixel arrays),
// prepares them the way MNIST itself was made, scales them as the model's
// metadata says and runs them through any backend behind a *model.Model.
//
// # Inputs
//
// The classifier takes [Gray] images that already have the model's size and ink
// convention: one byte per pixel, 0..255, light ink on a dark background for an
// MNIST model (metadata ink "light-on-dark"). Three sources give such images:
//
//   - MNIST idx files ([ReadIdxImages]): the images are fed exactly as stored.
//   - JSON pixel arrays ([DecodeJSON]): integers 0..255, fed as given when
//     they have the model's size.
//   - Any other picture ([DecodeFile] then [Preprocess] or [Classifier.Prepare]).
//
// # Preprocessing
//
// [Preprocess] turns a photo or drawing of a digit, of any size and colour
// model, into an MNIST-like image. MNIST's digits were size-normalised to fit
// a 20x20 box keeping their aspect ratio, anti-aliased to grey levels, and
// centred in a 28x28 field by their centre of mass; the steps repeat that:
//
//  1. Grey: every pixel becomes 8-bit luma, Y = 0.299 R + 0.587 G + 0.114 B
//     (the coefficients of image/color.GrayModel; JPEG's own Y plane is used
//     as is). Transparent pixels are composited over a background that
//     contrasts with the visible content: over white when that content is on
//     average dark, over black when it is light, so a digit drawn on a
//     transparent canvas keeps its ink whatever its colour.
//  2. Polarity: the background level is the median of the image's outermost
//     ring of pixels. If it is light (above 127) the image is inverted, so the
//     ink is always light on dark from here on.
//  3. Levels: pixels are stretched linearly so the background becomes 0 and
//     the brightest ink 1; then everything below 0.1 (faint paper texture,
//     JPEG ringing) is dropped and the rest rescaled to 0..1 again. An image
//     whose ink differs from its background by less than [MinContrast] grey
//     levels is blank: [ErrNoInk].
//  4. Crop: the image is cut to the bounding box of the remaining ink.
//  5. Scale: the box is resized to fit Box x Box (20x20 for a 28x28 model)
//     keeping its aspect ratio, with a separable triangle (bilinear) filter
//     whose support widens when shrinking, so every source pixel contributes
//     (area anti-aliasing, as Pillow's Image.resize with BILINEAR); then the
//     values are divided by the largest, so the brightest pixel is full ink,
//     as in MNIST's saturated strokes.
//  6. Centre: the scaled ink is placed in the model's Width x Height field
//     (28x28) so that its centre of mass falls on the field's centre, at a
//     whole-pixel offset and never cut off at an edge.
//  7. Quantise: values are rounded to 0..255. A model whose metadata ink is
//     "dark-on-light" gets the image inverted at the end.
//
// # Scaling and parity
//
// The model input is x = (pixel - input_mean) / input_std computed in float32,
// for MNIST float32(pixel)/255 by a float32 division, bit for bit what the
// exporter's numpy `x.astype(float32) / 255.0` feeds Keras. The predicted class
// is the first maximum of the model's output (numpy's argmax); a model whose
// metadata output_kind is "logits" gets a softmax for its probabilities. With
// the same inputs and the same argmax, [Classifier.Evaluate] on the MNIST test
// set counts exactly the images Keras counted as correct.
//
// # Limits
//
// [DecodeFile] refuses files over [DefaultMaxBytes] bytes and images over
// [DefaultMaxPixels] pixels (4096x4096), checked from the image header before
// any pixel is decoded, so a small file that claims to be huge costs nothing.
package vision
