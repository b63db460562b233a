// OpenCV's 8-bit BGR -> gray (cvtColor COLOR_BGR2GRAY, and imgcodecs' CMYK -> gray): the weights
// 0.114, 0.587, 0.299 in 14-bit fixed point, rounded.
export function grayFromBgr(b: number, g: number, r: number): number {
  return (b * 1868 + g * 9617 + r * 4899 + 8192) >> 14;
}
