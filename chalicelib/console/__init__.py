"""The web console: static assets (assets/: plain HTML, ES modules and CSS, no build step) served
under /ui/ by the same app. The page holds no session on the server: it calls the REST API with the
token the user typed, kept in the browser's sessionStorage."""
