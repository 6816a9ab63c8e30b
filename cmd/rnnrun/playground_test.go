package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var updateScreenshots = flag.Bool("update-screenshots", false,
	"write the playground's screenshots to docs/ (also RNNRUN_UPDATE_SCREENSHOTS=1)")

// chromium returns the headless Chromium the browser tests drive
// ($RNNRUN_CHROMIUM overrides Debian's chromium-headless-shell). Without it
// the test fails in CI and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	path := cmp.Or(os.Getenv("RNNRUN_CHROMIUM"), "/usr/bin/chromium-headless-shell")
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("no headless Chromium at %s (%v): run `make setup` (scripts/setup-browser.sh installs Debian's chromium-headless-shell), or set RNNRUN_CHROMIUM", path, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// page is one tab of a headless Chromium on a served playground.
type page struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string // uncaught exceptions, console.error calls and browser errors (CSP, ...) of the page
}

func openPage(t *testing.T, url string) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	p := &page{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enabling the browser's log: %v", err)
	}
	p.do(chromedp.Navigate(url))
	return p
}

func (p *page) record(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		// Error statuses of the API are expected (the test provokes some); a
		// blocked load, a policy violation or a script error is not.
		if ev.Entry.Level != cdplog.EntryLevelError || ev.Entry.Source == cdplog.EntrySourceNetwork {
			return
		}
		msg = fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		for _, a := range ev.Args {
			msg += " " + string(a.Value) + a.Description
		}
	default:
		return
	}
	p.mu.Lock()
	p.errors = append(p.errors, msg)
	p.mu.Unlock()
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy; what says what for.
func (p *page) waitJS(what, expr string, timeout time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// setValue sets a form field as a user's edit would (an input event follows).
func (p *page) setValue(id, value string) {
	p.t.Helper()
	js := fmt.Sprintf(`(e => { e.value = %s; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return e.value })(document.getElementById(%q))`, jsString(value), id)
	if got := eval[string](p, js); got != value {
		p.t.Fatalf("#%s: set %q, reads %q", id, value, got)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (p *page) click(id string) { p.t.Helper(); p.do(chromedp.Click(chromedp.ID(id))) }

// stroke draws through points given in fractions of the element's box, as
// a user does: with the mouse, its left button held, or with a finger.
func (p *page) stroke(id string, touch bool, points [][2]float64) {
	p.t.Helper()
	p.do(chromedp.ScrollIntoView(chromedp.ID(id)))
	box := eval[[]float64](p, fmt.Sprintf(`(r => [r.left, r.top, r.width, r.height])(document.getElementById(%q).getBoundingClientRect())`, id))
	path := [][2]float64{points[0]}
	for i := 1; i < len(points); i++ {
		for s := 1; s <= 8; s++ {
			f := float64(s) / 8
			path = append(path, [2]float64{points[i-1][0] + f*(points[i][0]-points[i-1][0]), points[i-1][1] + f*(points[i][1]-points[i-1][1])})
		}
	}
	held := func(e *input.DispatchMouseEventParams) {
		e.Button, e.Buttons, e.ClickCount = input.MouseButtonLeft, 1, 1
	}
	for i, pt := range path {
		x, y := box[0]+pt[0]*box[2], box[1]+pt[1]*box[3]
		var err error
		switch {
		case touch:
			ev := input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchMove, TouchPoints: []*input.TouchPoint{{X: x, Y: y}}}
			if i == 0 {
				ev.Type = input.DispatchTouchEventTypeTouchStart
			}
			_, err = chromedp.Call(p.ctx, input.DispatchTouchEvent, ev)
		case i == 0:
			err = chromedp.Do(p.ctx, chromedp.MouseEvent(chromedp.MousePressed, x, y, held))
		default:
			err = chromedp.Do(p.ctx, chromedp.MouseEvent(chromedp.MouseMoved, x, y, held))
		}
		if err != nil {
			p.t.Fatalf("drawing: %v", err)
		}
	}
	last := path[len(path)-1]
	var err error
	if touch {
		_, err = chromedp.Call(p.ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
	} else {
		err = chromedp.Do(p.ctx, chromedp.MouseEvent(chromedp.MouseReleased, box[0]+last[0]*box[2], box[1]+last[1]*box[3], held))
	}
	if err != nil {
		p.t.Fatalf("drawing: %v", err)
	}
}

// screenshot saves the whole page as playground-NAME.png in the screenshot
// folder and, with -update-screenshots, the committed ones (docs: true) in docs/.
func (p *page) screenshot(name string, docs bool) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := cmp.Or(os.Getenv("RNNRUN_SCREENSHOT_DIR"), filepath.Join(os.TempDir(), "rnnrun-playground"))
	dirs := []string{dir}
	if docs && (*updateScreenshots || os.Getenv("RNNRUN_UPDATE_SCREENSHOTS") == "1") {
		dirs = append(dirs, filepath.Join(repoRoot(), "docs"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.t.Fatal(err)
		}
		path := filepath.Join(d, "playground-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
}

func (p *page) noErrors() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errors) > 0 {
		p.t.Errorf("the page reported errors:\n%s", strings.Join(p.errors, "\n"))
	}
}

// metric reads one sample of the server's /metrics ("" when absent).
func (s *served) metric(series string) string {
	s.t.Helper()
	_, body := s.get("/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// playgroundConfig writes the test's config: the shipped text models, and mnist from the given file.
func playgroundConfig(t *testing.T, path, mnist string) {
	t.Helper()
	text := fmt.Sprintf(`server:
  max-length: 100000
  watch: true
  debounce: 100ms
models:
  - name: char
    path: %q
  - name: char-window
    path: %q
  - name: mnist
    path: %q
`, serveModel(t, "char.onnx"), serveModel(t, "char_window.onnx"), mnist)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The playground in a real Chromium against a real `rnnrun serve`: streamed
// text grows and Stop ends the stream on the server, API errors show, the
// three tutorial temperatures run side by side, a digit drawn with the mouse
// is read, an uploaded one too, a hot swap and a broken reload show in the
// models panel, the page fits a phone and takes a digit drawn by touch there,
// and a lost server shows as an error.
func TestPlaygroundInChromium(t *testing.T) {
	chromium(t)
	cfg := filepath.Join(t.TempDir(), "rnnrun.yaml")
	playgroundConfig(t, cfg, serveModel(t, "mnist.onnx"))
	s := startServe(t, nil, "--config", cfg)
	s.waitReady()
	p := openPage(t, s.base+"/")
	p.waitJS("the models panel", `window.playground?.modelsLoaded && document.querySelectorAll("#models tbody tr").length === 3`, 20*time.Second)
	if got := p.text(`#models tr[data-model="mnist"] [data-col="status"]`); got != "ready" {
		t.Fatalf("mnist status in the page: %q", got)
	}
	if got := eval[[]string](p, `[...document.querySelectorAll("#text-model option")].map(o => o.value)`); strings.Join(got, ",") != "char,char-window" {
		t.Fatalf("text model picker: %v", got)
	}

	t.Run("stream and stop", func(t *testing.T) { streamAndStop(t, s, p) })
	t.Run("errors", func(t *testing.T) {
		p.setValue("prompt", "HERMIA ¤")
		p.click("generate")
		p.waitJS("the error", `document.getElementById("text-error").textContent.includes("unknown_character")`, 10*time.Second)
		if role := eval[string](p, `document.getElementById("text-error").getAttribute("role")`); role != "alert" {
			t.Fatalf("the error region's role is %q", role)
		}
	})
	t.Run("side by side", func(t *testing.T) { sideBySide(t, p) })
	t.Run("digits", func(t *testing.T) { digits(t, p) })
	t.Run("hot swap", func(t *testing.T) {
		before := p.text(`#models tr[data-model="mnist"] [data-col="version"]`)
		playgroundConfig(t, cfg, serveModel(t, "mnist_tf.onnx"))
		p.waitJS("the swap in the models panel", `document.querySelector('#models tr[data-model="mnist"] [data-col="file"]')?.textContent === "mnist_tf.onnx"`, 30*time.Second)
		after := p.text(`#models tr[data-model="mnist"] [data-col="version"]`)
		if after == before || len(after) != 12 {
			t.Fatalf("mnist version in the page: %q before the swap, %q after", before, after)
		}
		t.Logf("mnist: version %s -> %s", before, after)
	})
	if t.Failed() {
		return
	}
	screenshots(t, p)
	t.Run("broken reload", func(t *testing.T) {
		broken := filepath.Join(t.TempDir(), "broken.onnx")
		os.WriteFile(broken, []byte("not a model"), 0o644)
		playgroundConfig(t, cfg, broken)
		p.waitJS("the reload error in the models panel", `document.querySelector('#models tr[data-error-of="mnist"]')?.textContent.includes("broken.onnx")`, 30*time.Second)
		if got := p.text(`#models tr[data-model="mnist"] [data-col="file"]`); got != "mnist_tf.onnx" {
			t.Fatalf("after a broken reload the panel shows %q serving", got)
		}
		t.Logf("shown: %s", p.text(`#models tr[data-error-of="mnist"]`))
	})
	t.Run("server gone", func(t *testing.T) {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(30 * time.Second); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		p.waitJS("the lost server in the models panel", `document.getElementById("models-error").textContent.startsWith("cannot reach the server")`, 10*time.Second)
		p.click("generate")
		p.waitJS("the lost server in the text panel", `document.getElementById("text-error").textContent.includes("cannot reach the server")`, 10*time.Second)
		t.Logf("shown: %s", p.text("#models-error"))
		p.screenshot("errors", false)
	})
	p.noErrors()
}

// screenshots saves the page at desktop and phone widths, checks that
// nothing is wider than a phone, and draws a digit there by touch.
func screenshots(t *testing.T, p *page) {
	p.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	p.screenshot("desktop", true)
	p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	defer p.do(chromedp.EmulateViewport(1280, 900))
	if w := eval[int](p, `window.innerWidth`); w != 390 {
		t.Errorf("at phone width the page is %d px wide; too wide: %s", w, eval[string](p, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391).map(e => e.tagName + "#" + e.id + "." + e.className).join(" ")`))
	}
	p.screenshot("phone", true)
	// A finger draws too: a 1, down the middle.
	p.click("clear")
	p.stroke("pad", true, [][2]float64{{0.52, 0.18}, {0.48, 0.84}})
	want := `=== "1"`
	if os.Getenv("RNNRUN_EXPORT_DIR") != "" {
		want = `!== undefined`
	}
	p.waitJS("the digit drawn by touch", `document.getElementById("digits-panel").dataset.label `+want, 10*time.Second)
	t.Logf("drawn by touch: %s %s", p.text("#digit-label"), p.text("#digit-prob"))
}

// streamAndStop types a prompt, watches the windowed model's text grow, stops
// it with the keyboard and checks that the server's stream ended.
func streamAndStop(t *testing.T, s *served, p *page) {
	p.setValue("text-model", "char-window")
	p.setValue("length", "100000")
	p.do(chromedp.Clear(chromedp.ID("prompt")), chromedp.SendKeys(chromedp.ID("prompt"), "HERMIA.\n"))
	if got := eval[string](p, `document.getElementById("prompt").value`); got != "HERMIA.\n" {
		t.Fatalf("typed prompt reads %q", got)
	}
	p.click("generate")
	length := func() int { return eval[int](p, `document.querySelector("#sample-0 .text")?.textContent.length ?? 0`) }
	p.waitJS("the first characters", `document.querySelector("#sample-0 .text")?.textContent.length > 0`, 20*time.Second)
	first := length()
	p.waitJS("the text to grow", fmt.Sprintf(`document.querySelector("#sample-0 .text").textContent.length > %d`, first), 10*time.Second)
	second := length()
	if got := s.metric(`rnnrun_http_requests_in_flight{route="generate"}`); got != "1" {
		t.Fatalf("in-flight generate requests while streaming: %q", got)
	}
	// Stop, by keyboard: focus the button and press Enter.
	p.do(chromedp.Focus(chromedp.ID("stop")), chromedp.KeyEvent(kb.Enter))
	p.waitJS("the stopped state", `document.getElementById("sample-0").dataset.state === "stopped"`, 10*time.Second)
	stopped := length()
	time.Sleep(500 * time.Millisecond)
	if later := length(); later != stopped || stopped >= 100000 {
		t.Fatalf("after Stop the text went from %d to %d characters", stopped, later)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.metric(`rnnrun_http_requests_in_flight{route="generate"}`) != "0" ||
		s.metric(`rnnrun_http_requests_total{model="char-window",route="generate",status="499"}`) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("the server's stream did not end: in flight %q, cancelled %q", s.metric(`rnnrun_http_requests_in_flight{route="generate"}`),
				s.metric(`rnnrun_http_requests_total{model="char-window",route="generate",status="499"}`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := p.text("#sample-0 .status"); !strings.HasPrefix(st, "stopped after") {
		t.Errorf("status after Stop: %q", st)
	}
	t.Logf("streamed %d, then %d characters; stopped at %d (%s)", first, second, stopped, p.text("#sample-0 .rate"))
}

// sideBySide runs the tutorial's three temperatures at once on the stateful model.
func sideBySide(t *testing.T, p *page) {
	p.setValue("text-model", "char")
	p.setValue("prompt", "HERMIA.\n")
	p.setValue("length", "300")
	p.setValue("seed", "7")
	p.click("compare")
	p.click("generate")
	p.waitJS("three finished samples", `document.querySelectorAll('#outputs .sample[data-state="done"]').length === 3`, 30*time.Second)
	if msg := p.text("#text-error"); msg != "" {
		t.Fatalf("error after a good request: %q", msg)
	}
	var samples []struct {
		Temperature string `json:"t"`
		Text        string `json:"text"`
		Status      string `json:"status"`
	}
	raw := eval[[]byte](p, `[...document.querySelectorAll("#outputs .sample")].map(s => ({t: s.dataset.temperature, text: s.querySelector(".text").textContent, status: s.querySelector(".status").textContent}))`)
	if err := json.Unmarshal(raw, &samples); err != nil || len(samples) != 3 {
		t.Fatalf("samples %s: %v", raw, err)
	}
	for i, want := range []string{"0.2", "0.6", "1.2"} {
		sm := samples[i]
		if sm.Temperature != want || len([]rune(sm.Text)) != 300 || !strings.Contains(sm.Status, "done: 300 characters") || !strings.Contains(sm.Status, "seed 7") {
			t.Errorf("sample %d: temperature %s, %d characters, status %q", i, sm.Temperature, len([]rune(sm.Text)), sm.Status)
		}
	}
	if samples[0].Text == samples[2].Text {
		t.Errorf("temperatures 0.2 and 1.2 wrote the same text: %q", samples[0].Text)
	}
}

// digits draws a 7 with the mouse and uploads files.
func digits(t *testing.T, p *page) {
	// A file the server cannot read shows its error; a shipped MNIST 7 is read.
	txt := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(txt, []byte("not an image"), 0o644)
	p.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{txt}))
	p.waitJS("the upload error", `document.getElementById("digit-error").textContent.includes("415")`, 10*time.Second)
	seven := filepath.Join(repoRoot(), "runtime", "vision", "testdata", "mnist", "t10k-00000.png")
	p.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{seven}))
	// Stand-in models ($RNNRUN_EXPORT_DIR) answer, but not necessarily right.
	want7 := `=== "7"`
	if os.Getenv("RNNRUN_EXPORT_DIR") != "" {
		want7 = `!== undefined`
	}
	p.waitJS("the uploaded digit", `document.getElementById("digits-panel").dataset.label `+want7, 10*time.Second)
	if msg := p.text("#digit-error"); msg != "" {
		t.Fatalf("error after a good upload: %q", msg)
	}

	p.click("clear")
	if got := eval[string](p, `document.getElementById("digits-panel").dataset.label ?? ""`); got != "" {
		t.Fatalf("label after Clear: %q", got)
	}
	// A 7: the top bar from left to right, then the long diagonal down to the left.
	p.stroke("pad", false, [][2]float64{{0.25, 0.22}, {0.75, 0.22}, {0.68, 0.35}, {0.45, 0.82}})
	p.waitJS("a prediction", `document.getElementById("digits-panel").dataset.label !== undefined && document.querySelectorAll("#bars li").length === 10`, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the last, debounced request
	label := eval[string](p, `document.getElementById("digits-panel").dataset.label`)
	if label != "7" && os.Getenv("RNNRUN_EXPORT_DIR") == "" {
		t.Fatalf("the drawn 7 was read as %s (%s)", label, p.text("#digit-prob"))
	}
	ink := eval[int](p, `(c => c.getContext("2d").getImageData(0, 0, c.width, c.height).data.filter((v, i) => i % 4 === 0 && v > 0).length)(document.getElementById("seen"))`)
	if size := eval[[]int](p, `[document.getElementById("seen").width, document.getElementById("seen").height]`); size[0] != 28 || size[1] != 28 || ink < 30 || ink > 400 {
		t.Fatalf("the model's view: %v pixels, %d with ink", size, ink)
	}
	t.Logf("drawn digit: %s %s, %d inked pixels of 28x28", label, p.text("#digit-prob"), ink)
}

// serve shows the playground at / unless --playground=false (or playground:
// false in the config file) turns it off.
func TestServePlaygroundFlag(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rnnrun.yaml")
	playgroundConfig(t, cfg, serveModel(t, "mnist.onnx"))
	on := startServe(t, nil, "--config", cfg)
	if code, body := on.get("/"); code != 200 || !strings.Contains(body, "rnnrun playground") {
		t.Fatalf("GET /: %d %.80s", code, body)
	}
	off := startServe(t, nil, "--config", cfg, "--playground=false")
	if code, body := off.get("/"); code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("GET / with --playground=false: %d %s", code, body)
	}
	if code, _ := off.get("/playground/app.js"); code != 404 {
		t.Fatalf("GET /playground/app.js with --playground=false: %d", code)
	}
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append([]byte("playground: false\n"), text...), 0o644)
	fromFile := startServe(t, nil, "--config", cfg)
	if code, _ := fromFile.get("/"); code != 404 {
		t.Fatalf("GET / with playground: false in the config: %d", code)
	}
}
