// The home page's URL builder: the image URL of the form's choices, shown with its image as
// you type; an invalid choice shows the server's reason instead.
"use strict";

function builderUrl(form) {
  const field = (name) => form.elements[name].value.trim();
  const retina = field("retina") === "1" ? "" : `@${field("retina")}x`;
  const format = field("format");
  const height = field("height");
  const size = height ? `${field("width")}x${height}` : field("width");
  const query = new URLSearchParams();
  for (const name of ["bg", "fg"]) {
    if (field(name)) query.set(name, field(name));
  }
  if (form.elements.text.value) query.set("text", form.elements.text.value);
  if (field("font") !== "default") query.set("font", field("font"));
  if (form.elements.bold.checked) query.set("weight", "bold");
  const path = `${size}${retina}${format ? "." + format : "/"}`;
  const search = query.toString().replaceAll("+", "%20");
  return form.dataset.base + path + (search ? "?" + search : "");
}

function showReason(url, error) {
  fetch(url)
    .then((response) => (response.ok ? "" : response.text()))
    .then((reason) => {
      error.textContent = reason;
    })
    .catch(() => {
      error.textContent = "the server did not answer";
    });
}

function setUpBuilder() {
  const form = document.getElementById("builder");
  const image = document.getElementById("builder-image");
  const error = document.getElementById("builder-error");
  const link = document.getElementById("builder-link");
  const update = () => {
    const url = builderUrl(form);
    document.getElementById("builder-url").textContent = url;
    link.href = url;
    error.textContent = "";
    image.src = url;
  };
  image.addEventListener("error", () => showReason(image.src, error));
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", (event) => event.preventDefault());
  update();
}

document.addEventListener("DOMContentLoaded", setUpBuilder);
