// flexaqa web app: job progress, synced sample views with pose/sEMG traces, live FKG score while labelling.
"use strict";

function pollJob(box) {
  const id = box.dataset.job;
  const bar = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  const msg = document.getElementById("progress-message");
  const tick = async () => {
    const r = await fetch(`/api/jobs/${id}`, { headers: { Accept: "application/json" } });
    if (!r.ok) { msg.textContent = `cannot read the job (${r.status})`; return; }
    const job = await r.json();
    bar.value = job.progress; text.textContent = `${Math.round(job.progress * 100)} %`; msg.textContent = job.message;
    if (job.state === "queued" || job.state === "running") setTimeout(tick, 700);
    else window.location.reload();
  };
  setTimeout(tick, 500);
}

function drawTraces(canvas, series, t0, t1, phases, now) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 24;
  ctx.clearRect(0, 0, W, H);
  const x = (t) => pad + ((t - t0) / Math.max(t1 - t0, 1e-6)) * (W - 2 * pad);
  ctx.strokeStyle = "#c9d1d9"; ctx.fillStyle = "#5b6677"; ctx.font = "11px sans-serif";
  for (const p of phases) {
    ctx.beginPath(); ctx.moveTo(x(p.start), 0); ctx.lineTo(x(p.start), H); ctx.stroke();
    ctx.fillText(p.name, x(p.start) + 3, 12);
  }
  const colours = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bf3989", "#57606a"];
  series.forEach((s, i) => {
    const lo = Math.min(...s.y), hi = Math.max(...s.y), span = hi - lo || 1;
    ctx.strokeStyle = colours[i % colours.length]; ctx.beginPath();
    s.t.forEach((t, k) => {
      const y = H - pad - ((s.y[k] - lo) / span) * (H - 2 * pad);
      if (k === 0) ctx.moveTo(x(t), y); else ctx.lineTo(x(t), y);
    });
    ctx.stroke(); ctx.fillStyle = colours[i % colours.length];
    ctx.fillText(s.name, W - pad - 150, 14 + 12 * i);
  });
  if (now !== undefined) {
    ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.moveTo(x(now), 0); ctx.lineTo(x(now), H); ctx.stroke();
  }
}

async function samplePlayer(box) {
  const videos = Array.from(box.querySelectorAll("video.sync"));
  const t0 = parseFloat(box.dataset.start), t1 = parseFloat(box.dataset.end);
  const scrub = document.getElementById("scrub"), clock = document.getElementById("clock");
  const r = await fetch(`/api/samples/${box.dataset.sample}/traces`, { headers: { Accept: "application/json" } });
  const traces = r.ok ? await r.json() : { pose: [], emg: [], phases: [] };
  const poseCanvas = document.getElementById("pose-trace"), emgCanvas = document.getElementById("emg-trace");
  const redraw = (now) => {
    drawTraces(poseCanvas, traces.pose, t0, t1, traces.phases, now);
    drawTraces(emgCanvas, traces.emg, t0, t1, traces.phases, now);
    clock.textContent = `${now.toFixed(2)} s`;
    scrub.value = Math.round(((now - t0) / Math.max(t1 - t0, 1e-6)) * 1000);
  };
  const seek = (t) => { videos.forEach((v) => { v.currentTime = t; }); redraw(t); };
  const master = videos[0];
  if (master) {
    master.addEventListener("timeupdate", () => {
      const now = master.currentTime;
      videos.slice(1).forEach((v) => { if (Math.abs(v.currentTime - now) > 0.08) v.currentTime = now; });
      if (now >= t1) { videos.forEach((v) => v.pause()); }
      redraw(Math.min(now, t1));
    });
  }
  document.getElementById("play").addEventListener("click", () => {
    if (!master) return;
    if (master.currentTime >= t1 || master.currentTime < t0) seek(t0);
    if (master.paused) videos.forEach((v) => v.play()); else videos.forEach((v) => v.pause());
  });
  scrub.addEventListener("input", () => seek(t0 + (scrub.value / 1000) * (t1 - t0)));
  redraw(t0);
}

function liveScore(form) {
  // the FKG penalty rule: score = (1 - sum of marked slot weights / total weight) * 100
  const total = parseFloat(form.dataset.total);
  const out = document.getElementById("live-score");
  const update = () => {
    let penalty = 0;
    form.querySelectorAll("input.slot:checked").forEach((c) => { penalty += parseFloat(c.dataset.weight); });
    out.textContent = ((1 - penalty / total) * 100).toFixed(2);
  };
  form.querySelectorAll("input.slot").forEach((c) => c.addEventListener("change", update));
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job-progress"); if (job) pollJob(job);
  const player = document.getElementById("player"); if (player) samplePlayer(player);
  const label = document.getElementById("label-form"); if (label) liveScore(label);
});
