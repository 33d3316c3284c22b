// Coalesces any number of updates into one render per animation frame (100 updates a second
// become at most one DOM pass per frame). A hidden tab gets no frames, so it falls back to a timer.

export class FrameScheduler {
  constructor(render) {
    this.render = render;
    this.pending = false;
  }

  request() {
    if (this.pending) return;
    this.pending = true;
    const run = () => {
      this.pending = false;
      this.render();
    };
    if (document.hidden) setTimeout(run, 100);
    else requestAnimationFrame(run);
  }
}
