// Package plot is a tiny line-chart renderer (image/png + image/draw only)
// for the bench's scaling curve: log-scaled or linear axes with tick labels,
// one polyline with point markers per series, a legend and a title, drawn
// with the 5×7 bitmap font of font.go, so it needs no font files or
// dependencies.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
)

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// Chart is one panel.
type Chart struct {
	Title          string
	XLabel, YLabel string
	LogX, LogY     bool
	Series         []Series
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255}, {0, 0, 128, 255}, {128, 0, 0, 255},
	{0, 128, 128, 255}, {128, 128, 0, 255}, {70, 70, 70, 255}, {255, 0, 255, 255},
}

var (
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{225, 225, 225, 255}
	white = color.RGBA{255, 255, 255, 255}
)

// RenderPNG draws the charts stacked vertically, each w×h pixels.
func RenderPNG(out io.Writer, w, h int, charts ...Chart) error {
	img := image.NewRGBA(image.Rect(0, 0, w, h*len(charts)))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	for i, c := range charts {
		if err := c.draw(img, image.Rect(0, i*h, w, (i+1)*h)); err != nil {
			return err
		}
	}
	return png.Encode(out, img)
}

// axis maps data values to pixels.
type axis struct {
	log    bool
	lo, hi float64 // data range (log10 of it on a log axis)
	p0, p1 int     // pixel range
}

func newAxis(vals []float64, log bool, p0, p1 int) axis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if log {
			if v <= 0 {
				continue
			}
			v = math.Log10(v)
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if log {
		lo, hi = math.Floor(lo), math.Ceil(hi)
		if hi == lo {
			hi = lo + 1
		}
	} else {
		if lo > 0 {
			lo = 0 // linear axes start at zero: rates and sizes read honestly
		}
		if hi == lo {
			hi = lo + 1
		}
		step := niceStep((hi - lo) / 5)
		hi = math.Ceil(hi/step) * step
	}
	return axis{log: log, lo: lo, hi: hi, p0: p0, p1: p1}
}

func (a axis) pos(v float64) (int, bool) {
	if a.log {
		if v <= 0 {
			return 0, false
		}
		v = math.Log10(v)
	}
	f := (v - a.lo) / (a.hi - a.lo)
	return a.p0 + int(math.Round(f*float64(a.p1-a.p0))), true
}

// ticks returns tick values: powers of ten on a log axis, about five nice
// steps on a linear one.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for e := a.lo; e <= a.hi+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := a.lo; v <= a.hi+step/1e6; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel renders 1500 as 1.5k, 2000000 as 2M, 0.5 as 0.5.
func tickLabel(v float64) string {
	switch av := math.Abs(v); {
	case av >= 1e6:
		return trimZeros(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case av >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case av >= 1 || av == 0:
		return trimZeros(fmt.Sprintf("%.1f", v))
	default:
		return trimZeros(fmt.Sprintf("%.3f", v))
	}
}

func trimZeros(s string) string {
	for len(s) > 1 && s[len(s)-1] == '0' && containsByte(s, '.') {
		s = s[:len(s)-1]
	}
	if len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

const (
	textScale = 2 // font pixels per glyph pixel
	charW     = 6 * textScale
	lineH     = 9 * textScale
)

func (c Chart) draw(img *image.RGBA, r image.Rectangle) error {
	if len(c.Series) == 0 {
		return fmt.Errorf("chart %q: no series", c.Title)
	}
	legendW := 0
	for _, s := range c.Series {
		legendW = max(legendW, (len([]rune(s.Name))+3)*charW)
	}
	left, right := r.Min.X+90, r.Max.X-legendW-30
	top, bottom := r.Min.Y+50, r.Max.Y-60
	var xs, ys []float64
	for _, s := range c.Series {
		xs = append(xs, s.X...)
		ys = append(ys, s.Y...)
	}
	ax := newAxis(xs, c.LogX, left, right)
	ay := newAxis(ys, c.LogY, bottom, top)

	drawText(img, r.Min.X+(r.Dx()-len([]rune(c.Title))*charW)/2, r.Min.Y+14, c.Title, black)
	for _, t := range ax.ticks() {
		x, ok := ax.pos(t)
		if !ok {
			continue
		}
		vline(img, x, top, bottom, grey)
		lbl := tickLabel(t)
		drawText(img, x-len(lbl)*charW/2, bottom+8, lbl, black)
	}
	for _, t := range ay.ticks() {
		y, ok := ay.pos(t)
		if !ok {
			continue
		}
		hline(img, left, right, y, grey)
		lbl := tickLabel(t)
		drawText(img, left-8-len(lbl)*charW, y-lineH/2+textScale, lbl, black)
	}
	hline(img, left, right, bottom, black)
	vline(img, left, top, bottom, black)
	drawText(img, left+(right-left-len([]rune(c.XLabel))*charW)/2, bottom+32, c.XLabel, black)
	drawText(img, r.Min.X+8, top-26, c.YLabel, black)

	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var px, py []int
		for j := range s.X {
			if j >= len(s.Y) {
				break
			}
			x, okx := ax.pos(s.X[j])
			y, oky := ay.pos(s.Y[j])
			if okx && oky {
				px, py = append(px, x), append(py, y)
			}
		}
		for j := range px {
			fillRect(img, px[j]-3, py[j]-3, 7, 7, col)
			if j > 0 {
				thickLine(img, px[j-1], py[j-1], px[j], py[j], col)
			}
		}
		ly := top + i*(lineH+4)
		fillRect(img, right+20, ly+2, 3*textScale*3, 3*textScale, col)
		drawText(img, right+20+charW*2, ly, s.Name, black)
	}
	return nil
}

func drawText(img *image.RGBA, x, y int, s string, col color.RGBA) {
	for _, ch := range s {
		g := glyph(ch)
		for row, line := range g {
			for colI, p := range line {
				if p == '#' {
					fillRect(img, x+colI*textScale, y+row*textScale, textScale, textScale, col)
				}
			}
		}
		x += charW
	}
}

func fillRect(img *image.RGBA, x, y, w, h int, col color.RGBA) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h).Intersect(img.Bounds()), &image.Uniform{col}, image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, col color.RGBA) { fillRect(img, x0, y, x1-x0+1, 1, col) }
func vline(img *image.RGBA, x, y0, y1 int, col color.RGBA) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	fillRect(img, x, y0, 1, y1-y0+1, col)
}

// thickLine draws a 2-pixel line (Bresenham).
func thickLine(img *image.RGBA, x0, y0, x1, y1 int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fillRect(img, x0, y0, 2, 2, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
