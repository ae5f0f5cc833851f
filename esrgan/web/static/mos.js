"use strict";
// The rating page: a name, the calibration pairs, then one image at a time until done.
(() => {
  const $ = (id) => document.getElementById(id);
  const s = { rater: null, calibration: [], step: 0, item: null, busy: false };

  async function post(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : r.statusText);
    return data;
  }

  function show(id) {
    for (const section of ["login", "calibration", "rating", "done"]) $(section).hidden = section !== id;
  }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const data = await post("/api/mos/raters", { name: $("name").value });
      s.rater = data.rater; s.calibration = data.calibration; s.step = 0;
      s.next = data.next;
      if (data.next.done) { show("done"); return; }
      if (data.next.index > 1 || !s.calibration.length) showItem(data.next); else showCalibration();
    } catch (err) { $("login-error").textContent = err.message; }
  });

  function showCalibration() {
    const pair = s.calibration[s.step];
    $("calib-low").src = pair.low; $("calib-high").src = pair.high;
    $("calib-step").textContent = `${s.step + 1} of ${s.calibration.length}`;
    show("calibration");
  }

  $("calib-next").addEventListener("click", () => {
    s.step += 1;
    if (s.step < s.calibration.length) showCalibration(); else showItem(s.next);
  });

  function showItem(next) {
    if (next.done) { $("progress-text").textContent = `${next.total} of ${next.total}`; show("done"); return; }
    s.item = next.item;
    const img = $("item");
    img.dataset.loaded = "";
    img.onload = () => { img.dataset.loaded = next.item; };
    img.src = next.url;
    $("progress-text").textContent = `image ${next.index} of ${next.total}`;
    show("rating");
  }

  async function rate(score) {
    if (s.busy || !s.item || $("rating").hidden) return;
    s.busy = true;
    try {
      $("rating-error").textContent = "";
      showItem(await post("/api/mos/ratings", { rater: s.rater, item: s.item, score }));
    } catch (err) { $("rating-error").textContent = err.message; }
    s.busy = false;
  }

  for (const b of document.querySelectorAll(".score")) b.addEventListener("click", () => rate(Number(b.dataset.score)));
  document.addEventListener("keydown", (e) => { if (e.key >= "1" && e.key <= "5") rate(Number(e.key)); });
})();
