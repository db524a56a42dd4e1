// The drawing canvas: white strokes on black, as Fashion-MNIST's items are light on a dark background.
// Its pixels go to the worker as 8-bit grey at the canvas's own size; the worker shrinks them with the core's
// PIL-exact resize, so a drawing is prepared exactly as an image file of the same pixels would be.

export interface DrawPad {
  clear(): void;
  /** Sends the current drawing to the callback. */
  submit(): void;
}

export function setupDrawPad(canvas: HTMLCanvasElement, onDrawing: (gray: Uint8Array, width: number, height: number) => void): DrawPad {
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  const clear = (): void => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  const submit = (): void => {
    const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const gray = new Uint8Array(canvas.width * canvas.height);
    // The strokes are pure white on black, so any one channel is the grey value.
    for (let i = 0; i < gray.length; i++) gray[i] = rgba[i * 4]!;
    onDrawing(gray, canvas.width, canvas.height);
  };
  clear();
  let drawing = false;
  const at = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * canvas.width, ((e.clientY - r.top) / r.height) * canvas.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = canvas.width / 12;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...at(e));
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  const end = (): void => {
    if (!drawing) return;
    drawing = false;
    submit();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return { clear, submit };
}
