// modeltrail console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Keyboard navigation in tables marked data-keynav: j/k move, Enter opens the row's first link.
  var rows = [];
  var at = -1;
  var listening = false;
  function keynav() {
    var table = document.querySelector("table[data-keynav]");
    rows = table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
    at = -1;
    if (listening) return;
    listening = true;
    function select(i) {
      if (!rows.length) return;
      if (at >= 0) rows[at].classList.remove("selected");
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows[at].classList.add("selected");
      var link = rows[at].querySelector("a");
      if (link) link.focus();
    }
    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.altKey || e.ctrlKey || e.metaKey || (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      if (e.key === "j") { select(at + 1); e.preventDefault(); }
      else if (e.key === "k") { select(at - 1); e.preventDefault(); }
    });
  }

  // RFC 9162 inclusion proof, recomputed here with WebCrypto: the page's root is checked independently of
  // the server's own verification (the checkpoint's signature is checked by the server).
  function b64(s) { return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }); }
  function concat(a, b, c) {
    var out = new Uint8Array(a.length + b.length + (c ? c.length : 0));
    out.set(a, 0); out.set(b, a.length); if (c) out.set(c, a.length + b.length);
    return out;
  }
  function sha256(bytes) { return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); }); }
  function equal(a, b) { if (a.length !== b.length) return false; for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }

  async function verifyInclusion(p) {
    var leafHash = await sha256(concat(new Uint8Array([0]), b64(p.leaf)));
    var fn = p.index, sn = p.size - 1, r = leafHash;
    if (fn > sn) return false;
    for (var i = 0; i < p.path.length; i++) {
      var h = b64(p.path[i]);
      if (sn === 0) return false;
      if ((fn & 1) === 1 || fn === sn) {
        r = await sha256(concat(new Uint8Array([1]), h, r));
        if ((fn & 1) === 0) { while ((fn & 1) === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha256(concat(new Uint8Array([1]), r, h));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, b64(p.root));
  }

  function proofs() {
    var el = document.getElementById("proof-browser");
    if (!el || !el.dataset.proof) return;
    if (!window.crypto || !crypto.subtle) { el.textContent = "Your browser cannot check the path here (no WebCrypto)."; return; }
    var p = JSON.parse(el.dataset.proof);
    verifyInclusion(p).then(function (ok) {
      el.className = ok ? "pass" : "fail";
      el.textContent = ok
        ? "Verified in your browser: the event's bytes hash up, through " + p.path.length + " proof hashes, to the checkpoint root."
        : "NOT verified in your browser: the proof does not lead to the checkpoint root.";
      el.dataset.verified = ok ? "yes" : "no";
    }, function (err) { el.className = "fail"; el.textContent = "The browser check failed: " + err; el.dataset.verified = "no"; });
  }

  document.addEventListener("DOMContentLoaded", function () { keynav(); proofs(); });
  // htmx swapped part of the page (a filtered or further page of the audit explorer): wire it up again.
  document.addEventListener("htmx:afterSettle", function () { keynav(); proofs(); });
})();
