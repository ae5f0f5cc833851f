"""`esrgan serve`: a local web app for upscaling (with a live network-interpolation slider) and MOS studies.

The app is FastAPI + uvicorn; the pages are plain HTML/JS/CSS in `static/`, served from the package,
so it works offline with no build step. Every torch call happens on one worker thread per device
(`jobs.JobQueue`), which is what makes "one job at a time per device" true and keeps the cached
models safe to blend in place.
"""
