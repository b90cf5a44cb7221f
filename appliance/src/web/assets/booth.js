// The booth's only script: the print button (hidden without script; the
// browser's own print command prints the same slip), and clearing the
// receipt for the next voter after a while (the appliance forgets the
// booth session then in any case).
(function () {
  "use strict";
  var print = document.getElementById("print-receipt");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
  var body = document.body;
  var after = parseInt(body.getAttribute("data-clear-after") || "", 10);
  var to = body.getAttribute("data-clear-to");
  if (after > 0 && to && to.charAt(0) === "/") {
    setTimeout(function () { window.location.assign(to); }, after * 1000);
  }
})();
