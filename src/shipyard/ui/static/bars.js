// The run timeline's bars: placed from their data attributes (a stylesheet that admits no
// inline style cannot take the widths from the page). Scripts off, the bars stay empty
// and each stage's time is still written beside it.
"use strict";
document.querySelectorAll(".fill[data-width]").forEach(function (bar) {
  bar.style.marginLeft = bar.dataset.left + "%";
  bar.style.width = bar.dataset.width + "%";
});
