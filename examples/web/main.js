// The page's driver: checks for WebGPU, loads the wasm build, trains for a
// few epochs with a live loss readout, draws CAM overlays, and publishes a
// JSON report (in #report, and POSTed to /report when the URL asks with
// ?report=1, which is how the CI test reads the numbers).
import init, { Trainer } from "./pkg/weakseg_web.js";

const params = new URLSearchParams(location.search);
const num = (name, fallback) => {
  const v = Number(params.get(name));
  return params.has(name) && Number.isFinite(v) ? v : fallback;
};
const settings = {
  images: num("images", 32),
  size: num("size", 64),
  classes: num("classes", 3),
  batch: num("batch", 8),
  lr: num("lr", 0.05),
  seed: num("seed", 0),
  epochs: num("epochs", 6),
  samples: num("samples", 4),
};

const $ = (id) => document.getElementById(id);
const report = { settings, adapter: null, seconds: null, kernel_max_error: null, losses: [], cams: [], error: null, done: false };

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function drawCurve(losses) {
  const c = $("curve"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (losses.length < 2) return;
  const hi = Math.max(...losses), lo = Math.min(...losses), span = hi - lo || 1;
  g.strokeStyle = "#1565c0";
  g.lineWidth = 2;
  g.beginPath();
  losses.forEach((v, i) => {
    const x = 4 + (i / (losses.length - 1)) * (c.width - 8);
    const y = 4 + (1 - (v - lo) / span) * (c.height - 8);
    i === 0 ? g.moveTo(x, y) : g.lineTo(x, y);
  });
  g.stroke();
}

function showCam(i, cam) {
  const canvas = document.createElement("canvas");
  canvas.width = cam.width;
  canvas.height = cam.height;
  canvas.getContext("2d").putImageData(
    new ImageData(new Uint8ClampedArray(cam.rgba), cam.width, cam.height), 0, 0);
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.textContent = `image ${i}: ${cam.class}`;
  fig.append(canvas, cap);
  $("cams").append(fig);
}

async function publish() {
  report.done = true;
  const text = JSON.stringify(report);
  $("report").textContent = text;
  console.log(`weakseg report: ${text}`);
  if (params.get("report") === "1") {
    await fetch("/report", { method: "POST", body: text });
  }
}

async function main() {
  if (!("gpu" in navigator)) {
    throw new Error("This browser has no WebGPU, so weakseg cannot run here. " +
      "Try a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled.");
  }
  const probe = await navigator.gpu.requestAdapter();
  if (!probe) {
    throw new Error("This browser supports WebGPU but offers no adapter " +
      "(the GPU may be blocklisted or WebGPU switched off).");
  }
  const info = probe.info || {};
  const named = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  status("Loading weakseg…");
  await init();
  status("Generating data and building the network…");
  const t = await Trainer.open(settings.images, settings.size, settings.classes,
    settings.batch, settings.lr, settings.seed);
  report.adapter = `${named || "unnamed adapter"} (${t.adapter()})`;
  $("adapter").textContent = `Adapter: ${report.adapter}`;
  report.kernel_max_error = await t.kernelCheck();
  const total = settings.epochs * t.stepsPerEpoch();
  const start = performance.now();
  for (let s = 0; s < total; s++) {
    status(`Training: step ${s + 1} of ${total}`);
    const loss = await t.step();
    report.losses.push(loss);
    $("loss").textContent = loss.toFixed(4);
    $("progress").textContent = `step ${s + 1}/${total}, ` +
      `${((performance.now() - start) / 1000 / (s + 1)).toFixed(2)} s/step`;
    drawCurve(report.losses);
  }
  report.seconds = (performance.now() - start) / 1000;
  status("Computing CAMs…");
  for (let i = 0; i < Math.min(settings.samples, settings.images); i++) {
    const cam = await t.cam(i);
    showCam(i, cam);
    report.cams.push({ image: i, class: cam.class, max: cam.max, mean: cam.mean, finite: cam.finite });
  }
  status(`Done: ${total} steps in ${report.seconds.toFixed(1)} s.`);
}

main()
  .catch((e) => {
    report.error = String(e && e.message ? e.message : e);
    status(report.error, true);
  })
  .finally(publish);
