"use strict";
// The upscale page: upload, queue a job, poll its progress, compare, download, and re-render the
// visible crop with the interpolated network while the alpha slider moves. No dependencies.
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { image: null, job: null, result: null, zoom: 1, px: 0, py: 0, previewBusy: false,
                  previewAgain: false, previewCount: 0 };

  async function api(path, options = {}) {
    const response = await fetch(path, options);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return response;
  }

  function setStatus(text, kind = "info", stateName = "") {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", kind === "error");
    if (stateName) el.dataset.state = stateName;
  }

  // -- models -----------------------------------------------------------------------------
  async function loadModels() {
    const health = await (await api("/api/health")).json();
    $("device").textContent = "device: " + health.device;
    const models = await (await api("/api/models")).json();
    for (const m of models) {
      $("model").add(new Option(m.label, m.id));
      $("psnr-model").add(new Option(m.label, m.id));
    }
    if (!models.length) setStatus("No models: start the server with --models DIR.", "error");
    updateButtons();
  }

  function interpolating() { return $("psnr-model").value !== "" && $("model").value !== ""; }

  function updateButtons() {
    $("run").disabled = !(state.image && $("model").value);
    $("interp").disabled = !(interpolating() && state.result);
    $("save").disabled = !state.result;
  }

  // -- upload -----------------------------------------------------------------------------
  async function upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    setStatus("Uploading " + file.name + " ...", "info", "uploading");
    try {
      const info = await (await api("/api/images", { method: "POST", body: form })).json();
      state.image = info; state.result = null; state.job = null;
      $("image-info").textContent = `${info.name}: ${info.width}x${info.height}, ${info.mode}`;
      setStatus("Ready to upscale.", "info", "ready");
      await showImages(`/api/images/${info.id}/view.png`, null, info.width, info.height);
    } catch (e) {
      state.image = null;
      setStatus(e.message, "error", "failed");
    }
    updateButtons();
  }

  $("file").addEventListener("change", () => { if ($("file").files[0]) upload($("file").files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });
  $("model").addEventListener("change", updateButtons);
  $("psnr-model").addEventListener("change", updateButtons);

  // -- jobs -------------------------------------------------------------------------------
  async function runJob() {
    const body = { image: state.image.id, model: $("model").value };
    if (interpolating()) { body.psnr_model = $("psnr-model").value; body.alpha = Number($("alpha").value); }
    if ($("outscale").value) body.outscale = Number($("outscale").value);
    if ($("tile").value !== "") body.tile = Number($("tile").value);
    $("run").disabled = true; $("render-full").disabled = true;
    try {
      let job = await (await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: JSON.stringify(body) })).json();
      state.job = job.id;
      while (job.state === "queued" || job.state === "running") {
        showProgress(job);
        await new Promise((r) => setTimeout(r, 200));
        job = await (await api(`/api/jobs/${job.id}`)).json();
      }
      if (job.state === "failed") throw new Error(job.error);
      showProgress(job);
      state.result = { job: job.id, width: job.width, height: job.height };
      await showImages(`/api/jobs/${job.id}/bicubic.png`, `/api/jobs/${job.id}/view.png`, job.width, job.height);
      updateDownload();
      setStatus(`Done: ${job.width}x${job.height}.`, "info", "done");
    } catch (e) {
      setStatus(e.message, "error", "failed");
    }
    $("render-full").disabled = false;
    updateButtons();
  }

  function showProgress(job) {
    if (job.state === "queued") {
      setStatus(`Queued: position ${job.position} on ${job.device}.`, "info", "queued");
      $("progress").value = 0;
    } else {
      const total = Math.max(job.total, 1);
      $("progress").value = job.done / total;
      setStatus(job.total ? `Running: tile ${job.done} of ${job.total}.` : "Running ...", "info",
                job.state === "done" ? "" : "running");
    }
  }

  $("run").addEventListener("click", runJob);
  $("render-full").addEventListener("click", runJob);

  function updateDownload() {
    if (!state.result) return;
    $("download").href = `/api/jobs/${state.result.job}/download?format=${$("format").value}`;
  }
  $("format").addEventListener("change", updateDownload);

  // -- viewer: wipe, zoom, pan ------------------------------------------------------------
  const viewport = $("viewport"), before = $("before"), after = $("after");

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("could not load " + url));
      img.src = url;
    });
  }

  async function showImages(beforeUrl, afterUrl, width, height) {
    const [b, a] = await Promise.all([loadImage(beforeUrl), afterUrl ? loadImage(afterUrl) : null]);
    before.src = b.src;
    before.style.width = width + "px"; before.style.height = height + "px";
    after.width = a ? width : 0; after.height = a ? height : 0;
    if (a) after.getContext("2d").drawImage(a, 0, 0, width, height);
    state.view = { width, height };
    fit();
  }

  function applyView() {
    const t = `translate(${state.px}px, ${state.py}px) scale(${state.zoom})`;
    before.style.transform = t; after.style.transform = t;
    viewport.classList.toggle("pixels", state.zoom >= 1);
    $("zoom-label").textContent = `${Math.round(state.zoom * 100)}%`;
    const w = $("wipe").value;
    $("after-layer").style.clipPath = `inset(0 0 0 ${w}%)`;
    $("wipe-line").style.left = `calc(${w}% - 1px)`;
  }

  function zoomTo(zoom, cx, cy) {
    const rect = viewport.getBoundingClientRect();
    cx = cx ?? rect.width / 2; cy = cy ?? rect.height / 2;
    const ix = (cx - state.px) / state.zoom, iy = (cy - state.py) / state.zoom;
    state.zoom = Math.min(32, Math.max(0.02, zoom));
    state.px = cx - ix * state.zoom; state.py = cy - iy * state.zoom;
    applyView();
    schedulePreview();
  }

  function fit() {
    if (!state.view) return;
    const rect = viewport.getBoundingClientRect();
    state.zoom = Math.min(rect.width / state.view.width, rect.height / state.view.height, 32);
    state.px = (rect.width - state.view.width * state.zoom) / 2;
    state.py = (rect.height - state.view.height * state.zoom) / 2;
    applyView();
  }

  $("zoom-fit").addEventListener("click", () => { fit(); schedulePreview(); });
  $("zoom-1").addEventListener("click", () => zoomTo(1));
  $("zoom-2").addEventListener("click", () => zoomTo(2));
  $("wipe").addEventListener("input", applyView);
  viewport.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = viewport.getBoundingClientRect();
    zoomTo(state.zoom * (e.deltaY < 0 ? 1.25 : 0.8), e.clientX - rect.left, e.clientY - rect.top);
  }, { passive: false });
  let drag = null;
  viewport.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
  window.addEventListener("pointerup", () => { if (drag) { drag = null; schedulePreview(); } });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    state.px += e.clientX - drag.x; state.py += e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    applyView();
  });
  window.addEventListener("resize", applyView);

  // -- alpha slider: re-render the visible crop ------------------------------------------
  function visibleCrop() {
    const rect = viewport.getBoundingClientRect();
    const r = state.result, f = r.width / state.image.width;
    let x0 = Math.max(0, -state.px / state.zoom), y0 = Math.max(0, -state.py / state.zoom);
    let x1 = Math.min(r.width, (rect.width - state.px) / state.zoom);
    let y1 = Math.min(r.height, (rect.height - state.py) / state.zoom);
    // in LR pixels, at most 128 on a side, centred on what is visible
    const cx = (x0 + x1) / 2 / f, cy = (y0 + y1) / 2 / f;
    const w = Math.min(128, Math.ceil((x1 - x0) / f) + 1), h = Math.min(128, Math.ceil((y1 - y0) / f) + 1);
    return { x: Math.max(0, Math.round(cx - w / 2)), y: Math.max(0, Math.round(cy - h / 2)), width: w, height: h };
  }

  function schedulePreview() {
    if (!state.result || !interpolating() || $("interp").disabled || !state.alphaMoved) return;
    if (state.previewBusy) { state.previewAgain = true; return; }
    preview();
  }

  async function preview() {
    state.previewBusy = true; state.previewAgain = false;
    const alpha = Number($("alpha").value), t0 = performance.now();
    const body = { image: state.image.id, model: $("model").value, psnr_model: $("psnr-model").value, alpha,
                   ...visibleCrop() };
    try {
      const response = await api("/api/crop", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify(body) });
      const [x, y, w, h] = response.headers.get("X-Crop-Box").split(",").map(Number);
      const bitmap = await createImageBitmap(await response.blob());
      const f = state.result.width / state.image.width;
      const ctx = after.getContext("2d");
      ctx.clearRect(x * f, y * f, w * f, h * f);
      ctx.drawImage(bitmap, x * f, y * f, w * f, h * f);
      state.previewCount += 1;
      const el = $("preview-status");
      el.dataset.count = String(state.previewCount);
      el.dataset.alpha = String(alpha);
      el.textContent = `alpha ${alpha.toFixed(2)}: ${w}x${h} px crop in ${((performance.now() - t0) / 1000).toFixed(2)} s`;
    } catch (e) {
      $("preview-status").textContent = e.message;
    }
    state.previewBusy = false;
    if (state.previewAgain) preview();
  }

  $("alpha").addEventListener("input", () => {
    $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
    state.alphaMoved = true;
    schedulePreview();
  });

  applyView();
  loadModels().catch((e) => setStatus(e.message, "error", "failed"));
})();
