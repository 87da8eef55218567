// "Kumpulkan data": drag and drop onto the upload box and a progress bar while the files go up.
// Without JavaScript the same form posts normally (the server answers with the preview page).
(function () {
  var form = document.getElementById("form-unggah");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  var input = document.getElementById("berkas");
  var zone = document.getElementById("area-tarik");
  var button = document.getElementById("tombol-unggah");
  var wrap = document.getElementById("kemajuan");
  var bar = document.getElementById("bilah-kemajuan");
  var text = document.getElementById("teks-kemajuan");
  var error = document.getElementById("galat-unggah");

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
    wrap.hidden = true;
    button.disabled = false;
  }

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    if (!e.dataTransfer || !e.dataTransfer.files.length) { return; }
    input.files = e.dataTransfer.files;
    var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
    text.textContent = names.length + " berkas dipilih: " + names.join(", ");
    wrap.hidden = false;
    bar.value = 0;
  });

  form.addEventListener("submit", function (e) {
    if (!input.files.length) { return; }  // the browser's own "required" message
    e.preventDefault();
    error.hidden = true;
    button.disabled = true;
    wrap.hidden = false;
    bar.value = 0;
    text.textContent = "Mengunggah… 0%";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
    xhr.upload.addEventListener("progress", function (ev) {
      if (!ev.lengthComputable) { return; }
      var pct = Math.round(100 * ev.loaded / ev.total);
      bar.value = pct;
      bar.textContent = pct + "%";
      text.textContent = pct < 100 ? "Mengunggah… " + pct + "%" : "Berkas terkirim; sedang dibaca…";
    });
    xhr.addEventListener("load", function () {
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
      if (xhr.status === 200 && data && data.redirect) {
        window.location.assign(data.redirect);
      } else if (data && data.error) {
        showError(data.error);
      } else if (xhr.status === 413) {
        showError("Unggahan terlalu besar. " + document.getElementById("petunjuk-tarik").textContent);
      } else {
        showError("Unggahan gagal (kode " + xhr.status + "). Muat ulang halaman lalu coba lagi.");
      }
    });
    xhr.addEventListener("error", function () {
      showError("Koneksi terputus saat mengunggah. Periksa jaringan lalu coba lagi.");
    });
    xhr.send(new FormData(form));
  });
})();
