// The client's signature, drawn in a box on the consent form of a case's page (a finger, a
// stylus or the mouse): kept as a PNG in the form's hidden `signature` field as it is
// drawn, and cleared by the box's Clear button. Without this script the form is refused
// with "Ask the client to sign in the box.": a consent is signed by the client's hand.
"use strict";
document.querySelectorAll("canvas.signature-pad").forEach((pad) => {
  const field = document.getElementById(pad.dataset.for);
  const pen = pad.getContext("2d");
  pen.lineWidth = 3;
  pen.lineCap = "round";
  pen.strokeStyle = "#111";
  let drawing = false;
  const at = (event) => {
    const box = pad.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * pad.width) / box.width,
      ((event.clientY - box.top) * pad.height) / box.height,
    ];
  };
  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    pen.beginPath();
    pen.moveTo(...at(event));
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    pen.lineTo(...at(event));
    pen.stroke();
  });
  const done = () => {
    if (!drawing) return;
    drawing = false;
    field.value = pad.toDataURL("image/png");
  };
  pad.addEventListener("pointerup", done);
  pad.addEventListener("pointercancel", done);
  document.querySelectorAll(`button.signature-clear[data-for="${pad.dataset.for}"]`).forEach((b) =>
    b.addEventListener("click", () => {
      pen.clearRect(0, 0, pad.width, pad.height);
      field.value = "";
    }),
  );
});
