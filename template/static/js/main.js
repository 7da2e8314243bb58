// Progressive enhancement only: every page works without JavaScript.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const clock = document.getElementById("clock");
  if (clock) {
    clock.textContent = `${clock.dataset.label} ${new Date().toLocaleTimeString()}`;
  }
});
